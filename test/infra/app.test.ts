import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { repoRoot, runAllowingFailure } from '../harness/test-env.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the CDK app as the CDK CLI does (`cdk synth` and `cdk deploy` alike: the CLI runs the app with
 * the output directory and the context in its environment, and tells it nothing else), in a
 * directory that holds `files`; returns its exit code, stderr and the main stack's template.
 */
async function runApp(files: Record<string, string>, context: Record<string, unknown> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'dbbackup-app-'));
  dirs.push(cwd);
  for (const [name, source] of Object.entries(files)) copyFileSync(source, join(cwd, name));
  const out = join(cwd, 'cdk.out');
  const cdkJson = JSON.parse(readFileSync(join(repoRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  const result = await runAllowingFailure(process.execPath, [join(repoRoot, 'dist/infra/app.js')], {
    cwd,
    env: {
      ...process.env,
      CDK_OUTDIR: out,
      CDK_CONTEXT_JSON: JSON.stringify({ ...cdkJson.context, 'aws:cdk:bundling-stacks': ['**'], ...context }),
    },
  });
  const template =
    result.code === 0
      ? (JSON.parse(readFileSync(join(out, 'DbBackup.template.json'), 'utf8')) as {
          Rules?: Record<string, { Assertions: Array<{ AssertDescription: string }> }>;
        })
      : undefined;
  return { ...result, template };
}

const example = join(repoRoot, 'dbbackup.config.example.json');

describe('the CDK app, without a config of the user’s own', () => {
  test('synthesizes the example to look at, saying so in one line, and CloudFormation refuses to deploy it', async () => {
    const { code, stderr, template } = await runApp({});
    assert.equal(code, 0, stderr);
    assert.match(
      stderr,
      /^dbbackup: no dbbackup\.config\.json here; synthesizing the example config .* to look at: it will not deploy\n$/,
    );
    // The CLI tells the app nothing that tells a deploy from a synth; the template's own rule refuses the
    // change set of a deploy, with this description as its error.
    const assertions = template?.Rules?.RefuseExampleConfig?.Assertions ?? [];
    assert.equal(assertions.length, 1, JSON.stringify(template?.Rules));
    assert.match(
      assertions[0]?.AssertDescription ?? '',
      /^dbbackup: DbBackup was synthesized from the example config; write dbbackup\.config\.json \(or pass -c config=PATH\) and deploy again$/,
    );
  });

  test('with dbbackup.config.json, or a config named with -c config=PATH, the template deploys', async () => {
    for (const run of [
      await runApp({ 'dbbackup.config.json': example }),
      await runApp({ 'mine.json': example }, { config: 'mine.json' }),
    ]) {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.equal(run.template?.Rules?.RefuseExampleConfig, undefined);
    }
  });
});
