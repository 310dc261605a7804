import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { cli, samplesDir, tempDir } from '../harness/test-env.js';

async function setUp(): Promise<{ dir: string; path: string; location: string; before: Buffer }> {
  const dir = await tempDir('restore-errors');
  const path = join(dir, 'app.db');
  await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
  const manifest = await runBackup({ source: path, target: join(dir, 'b') });
  return { dir, path, location: manifest.location, before: await fs.readFile(path) };
}

function assertRefused(result: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, pattern);
}

describe('restore refuses bad requests with exit 2 and changes nothing', () => {
  test('no --confirm and no TTY', async () => {
    const { dir, path, before } = await setUp();
    const result = await cli(['restore', '--target', join(dir, 'b'), '--latest', '--to', path]);
    assertRefused(
      result,
      /restore would replace SQLite database .*app\.db \(\d+ bytes, 11 tables\); refusing without confirmation\. confirm with the destination's name: --confirm app\.db/,
    );
    assert.ok(!result.stderr.includes('"confirm"'), "the CLI names its flag, not the restore event's field");
    assert.deepEqual(await fs.readFile(path), before);
  });

  test('a wrong --confirm', async () => {
    const { dir, path, before } = await setUp();
    assertRefused(
      await cli(['restore', '--target', join(dir, 'b'), '--latest', '--to', path, '--confirm', 'other.db']),
      /confirmation "other\.db" does not match the destination "app\.db"/,
    );
    assert.deepEqual(await fs.readFile(path), before);
  });

  test('a --path without its manifest; --no-manifest restores and says nothing was verified', async () => {
    const { dir, path, location, before } = await setUp();
    await fs.rm(`${location}.json`);
    assertRefused(
      await cli(['restore', '--path', location, '--to', path, '--confirm', 'app.db']),
      /no manifest beside .*pass --no-manifest/,
    );
    assert.deepEqual(await fs.readFile(path), before);

    const target = join(dir, 'unverified.db');
    const result = await cli(['restore', '--path', location, '--no-manifest', '--to', target, '--confirm', 'unverified.db']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /warning: the backup has no manifest: its integrity could not be verified/);
  });

  test('an unknown file name', async () => {
    const { dir, path, before } = await setUp();
    assertRefused(
      await cli([
        'restore',
        '--target',
        join(dir, 'b'),
        '--file',
        'backup_app_20000101_000000.db.gz',
        '--to',
        path,
        '--confirm',
        'app.db',
      ]),
      /no completed backup named "backup_app_20000101_000000\.db\.gz"/,
    );
    assert.deepEqual(await fs.readFile(path), before);
  });

  test('--latest on a target holding several databases, without --database', async () => {
    const { dir, path, before } = await setUp();
    await runBackup({ source: path, target: join(dir, 'b'), name: 'other' });
    assertRefused(
      await cli(['restore', '--target', join(dir, 'b'), '--latest', '--to', path, '--confirm', 'app.db']),
      /holds backups of several databases \((other, app|app, other)\)\. name one with --database/,
    );
    assert.deepEqual(await fs.readFile(path), before);
    const verify = await cli(['verify', '--target', join(dir, 'b')]);
    assert.equal(verify.code, 2);
    assert.match(verify.stderr, /holds backups of several databases/);
  });

  test('an engine mismatch, and no selection at all', async () => {
    const { dir, path } = await setUp();
    assertRefused(
      await cli(['restore', '--target', join(dir, 'b'), '--latest', '--to', 'postgres://u@127.0.0.1:1/x', '--confirm', 'x']),
      /is a sqlite backup; --to is a postgres database/,
    );
    assertRefused(
      await cli(['restore', '--target', join(dir, 'b'), '--to', path]),
      /choose exactly one of --latest, --file NAME and --path/,
    );
  });

  test('two backups chosen at once: the refusal names the CLI flags, not the restore event fields', async () => {
    const { dir, path, before } = await setUp();
    const result = await cli([
      'restore',
      '--target',
      join(dir, 'b'),
      '--latest',
      '--file',
      'backup_app_20000101_000000.db.gz',
      '--to',
      path,
      '--confirm',
      'app.db',
    ]);
    assertRefused(result, /^dbbackup restore: choose exactly one of --latest, --file NAME and --path PATH_OR_URI$/m);
    assert.ok(!result.stderr.includes('"latest"'), result.stderr);
    assert.deepEqual(await fs.readFile(path), before);
  });
});
