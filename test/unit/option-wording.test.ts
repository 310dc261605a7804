import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import ts from 'typescript';
import { cliWording, FLAGS } from '../../cli/action.js';
import { registerBackup } from '../../cli/commands/backup.js';
import { registerInvoke } from '../../cli/commands/invoke.js';
import { registerList } from '../../cli/commands/list.js';
import { registerPrune } from '../../cli/commands/prune.js';
import { registerRestore } from '../../cli/commands/restore.js';
import { registerVerify } from '../../cli/commands/verify.js';
import { restoreEventWording } from '../../shared/deployment/run-function-restore.js';
import { ConfigError, formatErrorLine, type OptionName } from '../../shared/errors.js';
import { locateBackup } from '../../shared/catalog/locate-backup.js';
import type { BackupOptionsInput } from '../../shared/backup/backup-options.js';
import type { RestoreRequest } from '../../shared/restore/run-restore.js';
import type { PruneRequestInput } from '../../shared/retention/prune-request.js';

/** Fails to compile if a core message could name an option no request type has. */
type NotARequestKey = Exclude<
  OptionName,
  keyof BackupOptionsInput | keyof RestoreRequest | keyof PruneRequestInput | 'stack' | 'functionName'
>;
const everyOptionIsARequestKey: [NotARequestKey] extends [never] ? true : NotARequestKey = true;
void everyOptionIsARequestKey;

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Every string and template text in a TypeScript file, with where it is and whether it is one child-process argument. */
function stringsIn(file: string): Array<{ text: string; line: number; argument: boolean }> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: Array<{ text: string; line: number; argument: boolean }> = [];
  // `['--version']`, `args.push('--no-owner')`, `` `--dbname=${url}` ``: one argument for pg_dump, psql or zstd.
  const isArgument = (node: ts.Node): boolean => {
    const parent = node.parent;
    const inList =
      ts.isArrayLiteralExpression(parent) ||
      (ts.isCallExpression(parent) && ts.isPropertyAccessExpression(parent.expression) && parent.expression.name.text === 'push');
    const head = ts.isTemplateExpression(node) ? node.head.text : (node as ts.StringLiteralLike).text;
    return inList && /^--[a-z][a-z-]*(=|$)/.test(head);
  };
  const visit = (node: ts.Node): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      found.push({ text: node.text, line, argument: isArgument(node) });
    } else if (ts.isTemplateExpression(node)) {
      const argument = isArgument(node);
      for (const text of [node.head.text, ...node.templateSpans.map((span) => span.literal.text)]) {
        found.push({ text, line, argument });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('no message in shared/ names a CLI flag: the core names options, and each front end words them', () => {
  const files = readdirSync(join(repoRoot, 'shared'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(repoRoot, 'shared', f));
  assert.ok(files.length > 20, `found only ${files.length} files in shared/`);
  // The alert emails' runbook lines are CLI commands on purpose: what an on-call engineer types next.
  const runbooks = new Set(['shared/deployment/alert-facts.ts']);
  const flags = files
    .filter((file) => !runbooks.has(relative(repoRoot, file)))
    .flatMap((file) =>
      stringsIn(file)
        .filter((s) => !s.argument && /--[a-z]/.test(s.text))
        .map((s) => `${relative(repoRoot, file)}:${s.line}: ${s.text}`),
    );
  assert.deepEqual(flags, []);
});

test('every option a core message may name is a flag the CLI declares', () => {
  const program = new Command();
  for (const register of [registerBackup, registerList, registerVerify, registerRestore, registerInvoke, registerPrune])
    register(program);
  const declared = new Set(program.commands.flatMap((command) => command.options.map((option) => option.long)));
  for (const name of Object.keys(FLAGS) as OptionName[]) {
    assert.ok(declared.has(cliWording.option(name)), `${name}: ${cliWording.option(name)} is not a flag of any command`);
  }
});

test('choosing two backups is refused in the words of whoever asked: flags on the CLI, fields in the restore event', async () => {
  const error = await locateBackup({ target: 'backups', latest: true, file: 'backup_school_20261121_230000.dump.gz' }).then(
    () => assert.fail('two choices were accepted'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(error.options, ['latest', 'file', 'path']);
  assert.equal(error.message, 'choose exactly one of latest, file and path');
  assert.equal(formatErrorLine(error, cliWording), 'choose exactly one of --latest, --file NAME and --path PATH_OR_URI');
  assert.equal(
    formatErrorLine(error, restoreEventWording),
    'choose exactly one of "latest": true, "file": "<backup file name>" and "path": "s3://…"',
  );
});
