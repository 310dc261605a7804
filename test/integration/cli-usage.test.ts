import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { cli, repoRoot, sampleCopy, tempDir } from '../harness/test-env.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

/** Runs the CLI on a pseudo-terminal (util-linux `script`), typing `input` at its prompt. */
function onTerminal(args: string[], input: string, cwd: string): Promise<{ code: number; output: string }> {
  const command = [process.execPath, join(repoRoot, 'bin/dbbackup.js'), ...args]
    .map((a) => `'${a.replace(/'/g, "'\\''")}'`)
    .join(' ');
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
      if (output.includes('to proceed: ')) child.stdin.write(`${input}\n`);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

describe('the CLI as a new user meets it', () => {
  test('list shows completed backups newest first; info sums them per database', async () => {
    const dir = await tempDir('listing');
    const old = await runBackup({ source: chinook, target: dir, name: 'alpha' }, { now: () => new Date('2026-01-01T00:00:00Z') });
    const recent = await runBackup({ source: chinook, target: dir, name: 'alpha' });
    await runBackup({ source: chinook, target: dir, name: 'beta' });
    // A data object without a manifest is not a backup.
    await fs.writeFile(join(dir, 'sqlite/alpha/2026/backup_alpha_20260102_000000.db.gz'), 'partial');

    const list = await cli(['list', '--target', dir, '--database', 'alpha']);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^FILE\s+DATABASE\s+ENGINE\s+TAKEN \(UTC\)/);
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(/\s+/)[0]),
      [recent.backup_file, old.backup_file],
    );

    const info = await cli(['info', '--target', dir, '--json']);
    assert.equal(info.code, 0, info.stderr);
    const databases = JSON.parse(info.stdout).databases as Array<{ database: string; count: number; totalBytes: number }>;
    assert.deepEqual(
      databases.map((d) => [d.database, d.count]),
      [
        ['alpha', 2],
        ['beta', 1],
      ],
    );
    assert.equal(databases[0]?.totalBytes, old.size_bytes + recent.size_bytes);
  });

  test('on a terminal, restore shows what it replaces and proceeds once the name is typed; a wrong name changes nothing', async () => {
    const dir = await tempDir('prompt');
    const path = join(dir, 'app.db');
    await fs.copyFile(chinook, path);
    await runBackup({ source: path, target: join(dir, 'b') });
    const before = await fs.readFile(path);

    const wrong = await onTerminal(
      ['restore', '--target', 'b', '--latest', '--to', 'app.db', '--no-safety-backup'],
      'nope.db',
      dir,
    );
    assert.equal(wrong.code, 2, wrong.output);
    assert.match(wrong.output, /REPLACES SQLite database "app\.db"/);
    assert.match(wrong.output, /confirmation "nope\.db" does not match/);
    assert.deepEqual(await fs.readFile(path), before);

    const right = await onTerminal(
      ['restore', '--target', 'b', '--latest', '--to', 'app.db', '--no-safety-backup'],
      'app.db',
      dir,
    );
    assert.equal(right.code, 0, right.output);
    assert.match(right.output, /restored app\.db: 11 tables, 15607 rows/);
  });
});

describe('the CLI loads only the command it runs', () => {
  const all = ['backup', 'list', 'verify', 'health', 'restore', 'prune', 'drill', 'invoke', 'info', 'report', 'demo'];

  test('help lists every command however it is asked for; a misspelt command still gets its suggestion', async () => {
    for (const args of [['--help'], ['-h'], ['--debug', '--help'], ['help'], []]) {
      const result = await cli(args);
      const text = result.stdout + result.stderr;
      const listed = [...text.matchAll(/^ {2}(\w+) \[options\]/gm)].map((m) => m[1]);
      assert.deepEqual(listed, all, `dbbackup ${args.join(' ')}: ${text}`);
    }
    const typo = await cli(['bakup', '--source', 'x.db']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown command 'bakup'\n\(Did you mean backup\?\)/);
  });

  test('a command named first (after --debug) has its own help and options; --version before it is the version', async () => {
    const help = await cli(['--debug', 'restore', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: dbbackup restore \[options\]/);
    const version = await cli(['--version', 'backup']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout.trim(), /^\d+\.\d+\.\d+$/);
    const wrong = await cli(['list', '--target', repoRoot, '--compression', 'zstd']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /unknown option '--compression'/);
  });
});
