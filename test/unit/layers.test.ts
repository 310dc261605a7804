import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import { repoRoot } from '../harness/test-env.js';

/** Every TypeScript source under `dir`, with the repository-relative paths of what it imports. */
function sources(dir: string): Array<{ file: string; imports: string[]; text: string }> {
  const root = join(repoRoot, dir);
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => {
      const path = join(root, f);
      const text = readFileSync(path, 'utf8');
      const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
        relative(repoRoot, resolve(join(path, '..'), m[1] as string))
          .split(sep)
          .join('/'),
      );
      return { file: relative(repoRoot, path).split(sep).join('/'), imports, text };
    });
}

const core = sources('shared');

describe('layers', () => {
  test('the core never imports a front end (cli/, functions/, infra/)', () => {
    const offending = core.flatMap((s) =>
      s.imports.filter((i) => /^(cli|functions|infra)\//.test(i)).map((i) => `${s.file} → ${i}`),
    );
    assert.deepEqual(offending, []);
  });

  test('no portable operation imports the AWS deployment layer', () => {
    const portable = core.filter((s) => !s.file.startsWith('shared/deployment/'));
    const offending = portable.flatMap((s) =>
      s.imports.filter((i) => i.startsWith('shared/deployment/')).map((i) => `${s.file} → ${i}`),
    );
    assert.deepEqual(offending, []);
  });

  test("an engine's folder is reached only through its definition, and only by the registry", () => {
    const offending = core.flatMap((s) =>
      s.imports
        .filter((i) => /^shared\/engines\/[^/]+\//.test(i))
        .filter((i) => {
          const folder = i.split('/').slice(0, 3).join('/');
          if (s.file.startsWith(`${folder}/`)) return false;
          return !(s.file === 'shared/engines/registry.ts' && /-definition\.js$/.test(i));
        })
        .map((i) => `${s.file} → ${i}`),
    );
    assert.deepEqual(offending, []);
  });

  test('outside the engines, nothing asks which engine it has: it asks the engine', () => {
    const asking = /\b(kind|engine|format)\s*[!=]==\s*'(postgres|sqlite|custom|plain)'/;
    const offending = [...core, ...sources('cli'), ...sources('functions')]
      .filter((s) => !s.file.startsWith('shared/engines/') && !s.file.startsWith('shared/deployment/'))
      .filter((s) => asking.test(s.text))
      .map((s) => s.file);
    assert.deepEqual(offending, []);
  });

  test('the core reads no environment variable: settings are read once, at the edges', () => {
    const offending = core.filter((s) => s.file !== 'shared/settings.ts' && /process\.env\b/.test(s.text)).map((s) => s.file);
    assert.deepEqual(offending, []);
  });

  test('imports go down the layers: model ← engines, targets and mechanisms ← operations ← deployment', () => {
    const level = (file: string): number => {
      const folder = file.split('/')[1] ?? '';
      if (file.split('/').length === 2) return 0; // shared/*.ts: the model
      if (['engines', 'targets', 'compression', 'pipeline', 'notify'].includes(folder)) return 1;
      if (['backup', 'restore', 'verify', 'catalog', 'runs', 'retention', 'health', 'report', 'drill'].includes(folder)) return 2;
      return 3; // deployment/
    };
    // The one upward edge: the manifest describes what the mechanisms write (engines and formats,
    // compressions, storage classes), so it takes their lists from them.
    const allowed = (edge: string) => edge.startsWith('shared/manifest.ts → ') && level(edge.split(' → ')[1] ?? '') === 1;
    const offending = core.flatMap((s) =>
      s.imports
        .filter((i) => i.startsWith('shared/') && level(i) > level(s.file))
        .map((i) => `${s.file} → ${i}`)
        .filter((edge) => !allowed(edge)),
    );
    assert.deepEqual(offending, []);
  });
});
