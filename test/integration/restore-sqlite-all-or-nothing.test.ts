import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { fetchBackup } from '../../shared/catalog/fetch-backup.js';
import { locateBackup } from '../../shared/catalog/locate-backup.js';
import { SqliteDestination } from '../../shared/engines/sqlite/sqlite-destination.js';
import { RestoreError } from '../../shared/errors.js';
import { readSettings } from '../../shared/settings.js';
import { cli, samplesDir, tempDir } from '../harness/test-env.js';
import { sqliteContents } from '../harness/sqlite-contents.js';

const writerScript = fileURLToPath(new URL('../harness/sqlite-writer.js', import.meta.url));

/** Chinook plus the `writes` table the harness's writer appends to. */
async function appDatabase(dir: string, journal: 'delete' | 'wal'): Promise<string> {
  const path = join(dir, 'app.db');
  await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
  const db = new Database(path);
  db.pragma(`journal_mode = ${journal}`);
  db.exec("create table writes (id integer primary key, note text); insert into writes (note) values ('before the backup')");
  db.close();
  return path;
}

/** A separate process inserting into `writes` one small transaction after another, as an application does. */
async function startWriter(path: string, mode: 'insert' | 'lock' = 'insert', ms = 0): Promise<ChildProcess> {
  const child = spawn(process.execPath, [writerScript, path, mode, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited ${code} before writing`)));
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe('SQLite restore is all or nothing', () => {
  for (const journal of ['delete', 'wal'] as const) {
    test(`(${journal} journal) an application writing during the restore: the destination ends as the backup (plus the writes made after it, said in a warning) or, failing, as it was`, async () => {
      const dir = await tempDir('sqlite-concurrent');
      const path = await appDatabase(dir, journal);
      const backups = join(dir, 'backups');
      await runBackup({ source: path, target: backups });
      const backedUp = sqliteContents(path);
      const setup = new Database(path);
      setup.exec("create table extra (x); insert into extra values ('made after the backup')");
      setup.close();
      const before = sqliteContents(path);

      const writer = await startWriter(path);
      let result;
      try {
        result = await cli(['restore', '--target', backups, '--latest', '--to', path, '--confirm', 'app.db']);
      } finally {
        await stop(writer);
      }
      // The writer was killed mid-transaction: its hot journal is rolled back by the next read-write open, as SQLite does.
      const recover = new Database(path);
      recover.prepare('select count(*) from sqlite_schema').get();
      recover.close();
      const after = sqliteContents(path);
      if (result.code !== 0) {
        // A writer that never pauses can starve a rollback-journal database's other connections past
        // the wait (a busy machine makes it likely): then the restore fails before the copy, and the
        // destination, `extra` and all, is as it was.
        assert.equal(journal, 'delete', `only a rollback journal blocks readers: ${result.stderr}`);
        assert.equal(result.stderr.trim().split('\n').at(-1)?.startsWith('dbbackup restore:'), true, result.stderr);
        assert.deepEqual({ ...after.tables, writes: [] }, { ...before.tables, writes: [] });
        assert.deepEqual(after.schema, before.schema);
        return;
      }
      // Every table but the one the writer appends to is exactly the backup; `extra` is gone.
      assert.deepEqual(after.schema, backedUp.schema);
      for (const [table, rows] of Object.entries(backedUp.tables)) {
        if (table !== 'writes') assert.deepEqual(after.tables[table], rows, table);
      }
      // The writer's table starts with the backup's rows; what follows was written after the restore, and kept.
      const writes = after.tables.writes as unknown[];
      assert.deepEqual(writes.slice(0, backedUp.tables.writes?.length), backedUp.tables.writes);
      assert.ok(writes.length > (backedUp.tables.writes?.length ?? 0), 'the writer went on writing after the restore');
      // Whether the check afterwards saw the writer's rows is timing; when it warns, it names only what the writer changed.
      for (const line of result.stdout.split('\n').filter((l) => /another connection/.test(l))) {
        assert.match(line, /^warning: .*(writes has \d+ rows|kept it locked)/, line);
        assert.doesNotMatch(line, /extra|Track|Album/, line);
      }
      const check = new Database(path, { readonly: true });
      assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
      check.close();
    });
  }

  test('an application holding its lock past the wait: the restore fails saying the destination was not changed, and it was not', async () => {
    const dir = await tempDir('sqlite-locked');
    const path = await appDatabase(dir, 'delete');
    const backups = join(dir, 'backups');
    await runBackup({ source: path, target: backups });
    const setup = new Database(path);
    setup.exec("create table extra (x); insert into extra values ('made after the backup')");
    setup.close();
    const before = sqliteContents(path);
    const writer = await startWriter(path, 'lock', 13_000);
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    const args = ['restore', '--target', backups, '--latest', '--to', path, '--confirm', 'app.db', '--no-safety-backup'];
    const result = await cli(args);
    await exited;
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /locked.*the destination was not changed/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    // Unchanged but for the row the lock holder committed when it let go.
    const after = sqliteContents(path);
    assert.deepEqual(after.schema, before.schema);
    assert.deepEqual(after.tables.writes, [...(before.tables.writes ?? []), [2, 'locked']]);
    assert.deepEqual({ ...after.tables, writes: [] }, { ...before.tables, writes: [] });
  });

  test('a fault after the copy (the replaced file damaged before its check): the error says the destination was replaced and names the undo copy', async () => {
    const dir = await tempDir('sqlite-after-copy');
    const path = await appDatabase(dir, 'delete');
    const backups = join(dir, 'backups');
    const manifest = await runBackup({ source: path, target: backups });
    const undo = join(backups, 'the-undo-copy.db');
    const settings = readSettings({});
    const located = await locateBackup({ path: manifest.location }, { settings });
    const fetched = await fetchBackup(located, settings);

    /**
     * Stand-in for a fault no real part produces on cue: storage that damages the file between
     * the commit and the check. The damage is real (bytes of the b-tree pages overwritten), the
     * check that finds it is the real one; only the moment is chosen by this subclass.
     */
    class DamagedAfterCopy extends SqliteDestination {
      protected override async verifyReplaced(...args: Parameters<SqliteDestination['verifyReplaced']>) {
        const db = new Database(this.path, { readonly: true });
        const pageSize = db.pragma('page_size', { simple: true }) as number;
        db.close();
        const handle = await fs.open(this.path, 'r+');
        await handle.write(Buffer.alloc(pageSize * 4, 0xa5), pageSize * 3);
        await handle.close();
        return super.verifyReplaced(...args);
      }
    }
    try {
      const pristine = await fs.readFile(path);
      for (const undoCopy of [undo, undefined]) {
        await fs.writeFile(path, pristine);
        await assert.rejects(
          () => new DamagedAfterCopy(path).restore(fetched, located.manifest, { settings, undoCopy }),
          (error: unknown) => {
            assert.ok(error instanceof RestoreError, String(error));
            assert.equal(error.destinationChanged, true);
            assert.match(error.message, /app\.db was replaced/);
            if (undoCopy) assert.ok(error.hint?.includes(undo), error.hint);
            else assert.match(error.hint ?? '', /no copy of its previous content/);
            return true;
          },
        );
      }
    } finally {
      await fetched.cleanup();
    }
  });
});
