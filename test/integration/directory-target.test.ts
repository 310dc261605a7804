import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { cli, samplesDir, tempDir } from '../harness/test-env.js';

/** A copy of the sample SQLite database: a backup locks its source, and other test files back up the sample meanwhile. */
async function sampleCopy(): Promise<string> {
  const path = join(await tempDir('dirtarget-source'), 'app.db');
  await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
  return path;
}

/** Every path under a directory (links not followed): what a refused command must leave as it was. */
async function tree(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true }).catch(() => []);
  return entries.sort();
}

/** A directory target beside a directory outside it that holds a complete backup of its own. */
async function setUp(): Promise<{ base: string; target: string; outside: string; outsideFile: string; chinook: string }> {
  const chinook = await sampleCopy();
  const base = await tempDir('dirtarget');
  const target = join(base, 'target');
  const outside = join(base, 'outside');
  await runBackup({ source: chinook, target, name: 'app' });
  const secret = await runBackup({ source: chinook, target: outside, name: 'secret' });
  return { base, target, outside, outsideFile: secret.backup_file, chinook };
}

describe('a directory target: names cannot lead out of it, and neither can symbolic links', () => {
  test('--database "..", "." or a name with "/" never leads out of the target: each is one database, encoded into one key segment', async () => {
    const { target, outsideFile } = await setUp();
    for (const name of ['../..', '..', '.', '../outside', 'sqlite/../..', 'a\\b']) {
      const list = await cli(['list', '--target', target, '--database', name, '--json']);
      assert.equal(list.code, 0, `list ${name}: ${list.stdout}${list.stderr}`);
      assert.deepEqual(JSON.parse(list.stdout), [], `list ${name} finds no backup: there is none of that database`);
      for (const args of [
        ['verify', '--target', target, '--database', name, '--latest'],
        ['restore', '--target', target, '--latest', '--database', name, '--to', join(target, 'x.db'), '--confirm', 'x.db'],
      ]) {
        const result = await cli(args);
        assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        assert.match(result.stderr, /no completed backups in/);
        assert.ok(!`${result.stdout}${result.stderr}`.includes(outsideFile), 'nothing outside the target is read');
      }
    }
    await assert.rejects(fs.stat(join(target, 'x.db')), 'nothing was restored');
    const empty = await cli(['list', '--target', target, '--database', '']);
    assert.equal(empty.code, 2, empty.stdout + empty.stderr);
    assert.match(empty.stderr, /^dbbackup list: --database is empty\./);
  });

  test('a link inside the target to a directory outside: list does not walk it, and a backup is not written through it', async () => {
    const { target, outside, outsideFile, chinook } = await setUp();
    await fs.symlink(join(outside, 'sqlite'), join(target, 'linked'));
    const list = await cli(['list', '--target', target, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout) as Array<{ database: string }>).map((m) => m.database),
      ['app'],
      'the backup outside is not listed',
    );
    assert.ok(!list.stdout.includes(outsideFile));

    // The engine's folder itself a link to the outside: writing through it would store the backup there.
    const engineFolder = join(target, 'sqlite');
    await fs.rm(engineFolder, { recursive: true });
    await fs.symlink(join(outside, 'sqlite'), engineFolder);
    const before = await tree(outside);
    const backup = await cli(['backup', '--source', chinook, '--target', target, '--name', 'secret']);
    assert.equal(backup.code, 1, backup.stdout + backup.stderr);
    assert.match(backup.stderr, /leads outside the backup directory .*target/);
    assert.equal(backup.stderr.trim().split('\n').length, 1, backup.stderr);
    assert.deepEqual(await tree(outside), before, 'nothing was written outside the target');
    const listed = await cli(['list', '--target', target, '--database', 'secret']);
    assert.notEqual(listed.code, 0, listed.stdout);
    assert.match(listed.stderr, /leads outside the backup directory/);
  });

  test('a manifest that is a link to one outside is unreadable: verify fails it, restore refuses it, nothing outside is read', async () => {
    const { base, target, outside, outsideFile } = await setUp();
    const [outsideManifest] = (await fs.readdir(outside, { recursive: true })).filter((f) => f.endsWith('.json'));
    const linkPath = join(target, 'sqlite/app/2026', `${outsideFile}.json`);
    await fs.symlink(join(outside, outsideManifest as string), linkPath);
    await fs.symlink(join(outside, (outsideManifest as string).replace(/\.json$/, '')), linkPath.replace(/\.json$/, ''));

    const verify = await cli(['verify', '--target', target, '--all']);
    assert.equal(verify.code, 3, verify.stdout + verify.stderr);
    assert.match(
      verify.stdout,
      new RegExp(`CORRUPT {2}${outsideFile}: its manifest is unreadable \\(.*leads outside the backup directory`),
    );
    const copy = join(base, 'copy.db');
    const restore = await cli(['restore', '--target', target, '--file', outsideFile, '--to', copy, '--confirm', 'copy.db']);
    assert.equal(restore.code, 3, restore.stderr);
    assert.equal(await fs.stat(copy).catch(() => undefined), undefined);
  });

  test('a target that is itself a link works as the directory it points to; a link loop inside it ends the listing', async () => {
    const base = await tempDir('dirtarget');
    const real = join(base, 'real');
    await fs.mkdir(real);
    const target = join(base, 'link');
    await fs.symlink(real, target);
    const manifest = await runBackup({ source: await sampleCopy(), target, name: 'app' });
    await fs.symlink('..', join(real, 'sqlite', 'loop'));
    const list = await cli(['list', '--target', target, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      (JSON.parse(list.stdout) as Array<{ backup_file: string }>).map((m) => m.backup_file),
      [manifest.backup_file],
    );
    const verify = await cli(['verify', '--target', target, '--latest']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });
});
