import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { SqliteEngine } from '../../shared/engines/sqlite/sqlite-engine.js';
import { DumpError } from '../../shared/errors.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { runRestore } from '../../shared/restore/run-restore.js';
import { readSettings } from '../../shared/settings.js';
import { cli, createBucket, getObject, sampleCopy, tempDir } from '../harness/test-env.js';

const writerScript = fileURLToPath(new URL('../harness/sqlite-writer.js', import.meta.url));

/** Every table's rows, in rowid order, for comparing two databases. */
function contents(path: string): Record<string, unknown[]> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("select name from sqlite_schema where type = 'table' order by name").pluck().all() as string[];
    return Object.fromEntries(tables.map((t) => [t, db.prepare(`select * from "${t}" order by rowid`).raw().all()]));
  } finally {
    db.close();
  }
}

/** Starts a writer process and resolves once it has written for the first time. */
async function startWriter(path: string, mode: 'insert' | 'lock', ms?: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [writerScript, path, mode, String(ms ?? 0)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited ${code} before writing`)));
  });
  return child;
}

async function makeDatabase(path: string, rows: number, journal: 'delete' | 'wal'): Promise<void> {
  const db = new Database(path);
  db.pragma(`journal_mode = ${journal}`);
  db.exec(
    'create table payload (id integer primary key, label text, data blob); create table writes (id integer primary key, note text)',
  );
  db.prepare(
    `with recursive c(x) as (select 1 union all select x + 1 from c where x < ?)
     insert into payload (label, data) select 'row ' || x || ' ' || hex(randomblob(200)), randomblob(600) from c`,
  ).run(rows);
  db.close();
}

describe('SQLite backups', () => {
  test('Chinook backs up to S3; the object gunzips to a database with identical tables, and its SHA-256 is the manifest hash', async () => {
    const bucket = await createBucket('sqlite');
    const source = await sampleCopy('chinook/Chinook_Sqlite.sqlite');
    const manifest = await runBackup({ source: `sqlite://${source}`, target: `s3://${bucket}/apps`, name: 'chinook' });

    assert.match(manifest.key, /^apps\/sqlite\/chinook\/\d{4}\/backup_chinook_\d{8}_\d{6}_[0-9a-f]{8}\.db\.gz$/);
    const stored = await getObject(bucket, manifest.key);
    assert.equal(createHash('sha256').update(stored).digest('hex'), manifest.hash);
    const dir = await tempDir('chinook-sqlite');
    await fs.writeFile(join(dir, 'restored.db'), gunzipSync(stored));
    assert.deepEqual(contents(join(dir, 'restored.db')), contents(source));
    assert.equal(manifest.tables.Track, 3503);
    assert.match(manifest.engine_version.sqlite ?? '', /^3\.\d+/);
  });

  test('a 200 MB database that another process writes to continuously backs up within seconds, and the snapshot passes integrity_check', async () => {
    const dir = await tempDir('busy');
    const path = join(dir, 'app.db');
    await makeDatabase(path, 220_000, 'delete');
    const { size } = await fs.stat(path);
    assert.ok(size > 190_000_000, `database is only ${size} bytes`);

    const writer = await startWriter(path, 'insert');
    try {
      const started = Date.now();
      const manifest = await runBackup({ source: path, target: join(dir, 'backups'), compression: 'zstd' });
      const seconds = (Date.now() - started) / 1000;
      assert.ok(seconds < 30, `backup took ${seconds} s`);
      assert.equal(manifest.tables.payload, 220_000);
      assert.ok((manifest.tables.writes ?? 0) > 0, 'the writer had written before the snapshot');

      const verify = await cli(['verify', '--target', join(dir, 'backups'), '--latest']);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      assert.match(verify.stdout, /^ok /);
    } finally {
      writer.kill();
    }
  });

  test('under a writer committing back to back, the read lock is had within a second, every time (SQLite’s own wait took up to 7 s)', async () => {
    const dir = await tempDir('back-to-back');
    const path = join(dir, 'app.db');
    await makeDatabase(path, 2000, 'delete');
    const writer = await startWriter(path, 'insert');
    try {
      // The probe (its lock, the version) and the snapshot (its lock, a copy of 2 MB, the check), timed alone.
      const engine = new SqliteEngine(path, { tmpDir: dir });
      const waits: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = Date.now();
        await engine.probe();
        waits.push(Date.now() - started);
      }
      for (let i = 0; i < 5; i++) {
        const started = Date.now();
        const dump = await engine.dump({});
        waits.push(Date.now() - started);
        const counts = await dump.tableCounts;
        dump.stream.destroy();
        await dump.cleanup();
        assert.equal(counts?.tables.payload, 2000);
      }
      assert.ok(Math.max(...waits) < 1000, `probes, then snapshots, took ${waits.join(', ')} ms`);
      console.log(`under a writer: probes, then snapshots, took ${waits.join(', ')} ms`);
    } finally {
      writer.kill();
    }
  });

  test('a restore into a database a writer commits to back to back waits for its locks a moment, not seconds, and checks the result', async () => {
    const dir = await tempDir('restore-back-to-back');
    const path = join(dir, 'app.db');
    await makeDatabase(path, 2000, 'delete');
    const manifest = await runBackup({ source: path, target: join(dir, 'out') });
    const writer = await startWriter(path, 'insert');
    try {
      const took: number[] = [];
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const result = await runRestore({ path: manifest.location, to: path, confirm: 'app.db', noSafetyBackup: true });
        took.push(Date.now() - started);
        assert.equal(result.restored, true);
        // Checked afterwards: SQLite's own wait, statement by statement, lost the lock and said it could not.
        assert.ok(!result.warnings.some((w) => /not checked afterwards/.test(w)), result.warnings.join('; '));
      }
      assert.ok(Math.max(...took) < 3000, `restores took ${took.join(', ')} ms`);
      console.log(`under a writer: restores took ${took.join(', ')} ms`);
    } finally {
      writer.kill();
    }
  });

  test('a WAL-mode database with uncheckpointed writes is captured with those writes', async () => {
    const dir = await tempDir('wal');
    const path = join(dir, 'app.sqlite3');
    await makeDatabase(path, 100, 'wal');
    const app = new Database(path);
    app.pragma('wal_autocheckpoint = 0');
    app.prepare("insert into writes (note) values ('only in the WAL')").run();
    const manifest = await runBackup({ source: `sqlite:${path}`, target: join(dir, 'out') });
    app.close();
    assert.equal(manifest.tables.writes, 1);
  });

  test('a source locked by another process at the first step is retried, not taken for an empty database', async () => {
    const dir = await tempDir('locked');
    const path = join(dir, 'app.db');
    await makeDatabase(path, 1000, 'delete');
    const writer = await startWriter(path, 'lock', 800);
    const manifest = await runBackup({ source: path, target: join(dir, 'out') });
    writer.kill();
    assert.equal(manifest.tables.payload, 1000);
    assert.equal(manifest.tables.writes, 1);
  });

  test("the snapshot goes to the settings' temp dir, as read at the edge, not wherever the process environment says", async () => {
    const dir = await tempDir('sqlite-tmp');
    const source = join(dir, 'app.db');
    await makeDatabase(source, 10, 'delete');
    const notADirectory = join(dir, 'app.db'); // a file: no snapshot dir can be made under it
    await assert.rejects(
      runBackup(
        { source, target: join(dir, 'out') },
        { settings: readSettings({ ...process.env, DBBACKUP_TMPDIR: notADirectory }) },
      ),
      (e: unknown) => e instanceof Error && e.message.includes(notADirectory),
    );
    const manifest = await runBackup(
      { source, target: join(dir, 'out') },
      { settings: readSettings({ ...process.env, DBBACKUP_TMPDIR: dir }) },
    );
    assert.equal(manifest.tables.payload, 10);
    assert.deepEqual(
      (await fs.readdir(dir)).filter((f) => f.startsWith('dbbackup-')),
      [],
      'the snapshot dir is removed',
    );
  });

  test('a source that stays locked fails the backup with a clear error instead of an empty snapshot', async () => {
    const dir = await tempDir('stuck');
    const path = join(dir, 'app.db');
    await makeDatabase(path, 10, 'delete');
    const writer = await startWriter(path, 'lock', 20_000);
    try {
      const engine = new SqliteEngine(path, { busyRetries: 2, tmpDir: dir });
      await assert.rejects(engine.dump({}), (e: unknown) => e instanceof DumpError && /stayed locked/.test(e.hint ?? ''));
    } finally {
      writer.kill();
    }
  });
});

describe('overlapping SQLite backups', () => {
  test('a backup while another holds the lock ends with "already running"; a stale lock from a killed run is taken over', async () => {
    const dir = await tempDir('sqlite-lock');
    const path = join(dir, 'app.db');
    await makeDatabase(path, 10, 'delete');
    await fs.writeFile(`${path}.dbbackup-lock`, '{"pid": 1}');
    const busy = await cli(['backup', '--source', path, '--target', join(dir, 'out')]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /another backup of .*app\.db is already running \(lock file/);

    const old = new Date(Date.now() - 7 * 3600 * 1000);
    await fs.utimes(`${path}.dbbackup-lock`, old, old);
    const manifest = await runBackup({ source: path, target: join(dir, 'out') });
    assert.equal(manifest.tables.payload, 10);
    await assert.rejects(fs.stat(`${path}.dbbackup-lock`), 'the lock is removed once the backup ends');
  });
});
