import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { FileTarget } from '../../shared/targets/file-target.js';
import { cli, samplesDir, killCliAt, tempDir } from '../harness/test-env.js';
import { sqliteContents } from '../harness/sqlite-contents.js';

async function chinookCopy(dir: string, name = 'app.db'): Promise<string> {
  const path = join(dir, name);
  await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
  return path;
}

function mutate(path: string): void {
  const db = new Database(path);
  db.exec(`create table added_later (id integer primary key);
           insert into Artist (ArtistId, Name) values (100000, 'after the backup');
           delete from PlaylistTrack where PlaylistId = 1;
           drop table PlaylistTrack;`);
  db.close();
}

describe('SQLite restore', () => {
  test('Chinook: after a backup and later changes, restore --latest brings back exactly the backed-up database, with a pre-restore copy', async () => {
    const dir = await tempDir('sqlite-restore');
    const path = await chinookCopy(dir);
    const original = sqliteContents(path);
    const backups = join(dir, 'backups');
    await runBackup({ source: path, target: backups });
    mutate(path);
    assert.notDeepEqual(sqliteContents(path), original);

    const result = await cli(['restore', '--target', backups, '--latest', '--to', `sqlite://${path}`, '--confirm', 'app.db']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^restored app\.db: 11 tables, 15607 rows/m);
    assert.deepEqual(sqliteContents(path), original);
    const kinds = (await listBackups(new FileTarget(backups))).backups.map((b) => b.manifest.kind).sort();
    assert.deepEqual(kinds, ['manual', 'pre-restore']);
  });

  test('a live WAL-mode database with uncheckpointed writes is replaced: it holds exactly the backup, passes integrity_check, and connections see the restored data', async () => {
    const dir = await tempDir('wal-restore');
    const path = await chinookCopy(dir, 'live.sqlite3');
    const setup = new Database(path);
    setup.pragma('journal_mode = wal');
    setup.close();
    const original = sqliteContents(path);
    await runBackup({ source: path, target: join(dir, 'b') });

    const app = new Database(path);
    app.pragma('wal_autocheckpoint = 0');
    app.exec(
      "create table only_in_wal (x); insert into only_in_wal values ('uncheckpointed'); delete from PlaylistTrack where TrackId < 100",
    );
    assert.ok((await fs.stat(`${path}-wal`)).size > 0, 'the writes sit in the WAL');

    const result = await cli([
      'restore',
      '--target',
      join(dir, 'b'),
      '--latest',
      '--to',
      path,
      '--confirm',
      'live.sqlite3',
      '--no-safety-backup',
    ]);
    assert.equal(result.code, 0, result.stderr);

    assert.equal(
      app.prepare('select count(*) from PlaylistTrack').pluck().get(),
      8715,
      'the open connection sees the restored data',
    );
    app.close();
    const fresh = new Database(path);
    assert.equal(fresh.pragma('integrity_check', { simple: true }), 'ok');
    assert.equal(fresh.prepare("select count(*) from sqlite_schema where name = 'only_in_wal'").pluck().get(), 0);
    fresh.close();
    assert.deepEqual(sqliteContents(path), original);
  });

  test('restoring to a path that does not exist creates the database there', async () => {
    const dir = await tempDir('new-path');
    const path = await chinookCopy(dir);
    const manifest = await runBackup({ source: path, target: join(dir, 'b') });
    const target = join(dir, 'restored.db');
    const result = await cli(['restore', '--path', manifest.location, '--to', target, '--confirm', 'restored.db']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(sqliteContents(target), sqliteContents(path));
    assert.deepEqual(
      (await fs.readdir(dir)).filter((f) => f.includes('dbbackup')),
      [],
      'no temp file left beside it',
    );
  });

  test('one byte changed in the stored backup: exit 3 and the destination untouched', async () => {
    const dir = await tempDir('corrupt-restore');
    const path = await chinookCopy(dir);
    const manifest = await runBackup({ source: path, target: join(dir, 'b') });
    mutate(path);
    const before = await fs.readFile(path);
    const stored = await fs.readFile(manifest.location);
    stored[100] = (stored[100] as number) ^ 0x01;
    await fs.writeFile(manifest.location, stored);
    const result = await cli(['restore', '--path', manifest.location, '--to', path, '--confirm', 'app.db']);
    assert.equal(result.code, 3, result.stderr);
    assert.deepEqual(await fs.readFile(path), before);
  });

  test('killed with SIGKILL during the download and just before writing: the destination is unchanged, and a later restore succeeds', async () => {
    const dir = await tempDir('kill-sqlite');
    const path = await chinookCopy(dir);
    const original = sqliteContents(path);
    await runBackup({ source: path, target: join(dir, 'b') });
    mutate(path);
    const mutated = sqliteContents(path);
    const args = ['restore', '--target', join(dir, 'b'), '--latest', '--to', path, '--confirm', 'app.db', '--no-safety-backup'];
    for (const point of ['download', 'swap']) {
      await killCliAt(point, args);
      assert.deepEqual(sqliteContents(path), mutated, `after a kill at ${point}`);
    }
    const result = await cli(args);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(sqliteContents(path), original);
  });
});
