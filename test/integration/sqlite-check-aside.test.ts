import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { inspectSqliteFileAside } from '../../shared/engines/sqlite/inspect-aside.js';
import { SqliteEngine } from '../../shared/engines/sqlite/sqlite-engine.js';
import type { Manifest } from '../../shared/manifest.js';
import { misdefineIndex } from '../harness/sqlite-contents.js';
import { assertOnlyFailedRunRecord, cli, cliWithin, createBucket, processes, tempDir, waitFor } from '../harness/test-env.js';

/**
 * A SQLite snapshot of 32 MiB or more is checked (integrity_check, row counts) in a process of
 * its own while it is compressed and stored; these databases are large enough to take that path
 * with dbbackup's own defaults, so the path a user's large database takes is the one tested.
 */
function largeDatabase(path: string, options: { damagedIndex?: boolean } = {}): void {
  const db = new Database(path);
  db.exec('create table payload (id integer primary key, data blob); create table t (a, b); create index ti on t (a)');
  db.prepare(
    'with recursive c(x) as (select 1 union all select x + 1 from c where x < 40000) insert into payload (data) select randomblob(1000) from c',
  ).run();
  db.exec("insert into t values (1, 'x'), (2, 'y')");
  if (options.damagedIndex) misdefineIndex(db, 'ti', 'CREATE INDEX ti ON t (b)');
  db.close();
}

/**
 * A database of about 50 MB whose check takes seconds rather than a fraction of one: its rows are
 * small and in two indexes, which integrity_check matches row by row (the blobs above are mostly
 * overflow pages, read at disk speed).
 */
function slowToCheckDatabase(path: string): void {
  const db = new Database(path);
  db.exec(
    'create table r (id integer primary key, a text, b integer, c text); create index ra on r (a); create index rb on r (b, c)',
  );
  db.prepare(
    'with recursive c(x) as (select 1 union all select x + 1 from c where x < 400000) insert into r (a, b, c) select hex(randomblob(12)), abs(random()) % 100000, hex(randomblob(8)) from c',
  ).run();
  db.close();
}

/** Processes of this machine running the inspection child on a file under `dir`. */
function inspectionsUnder(dir: string): number[] {
  return processes()
    .filter(({ argv }) => argv.some((a) => a.endsWith('inspect-child.js')) && argv.some((a) => a.startsWith(dir)))
    .map((p) => p.pid);
}

describe('a large SQLite snapshot is checked while it is stored', () => {
  test('the backup counts every row, verifies, restores, and leaves no check process, snapshot or lock behind', async () => {
    const dir = await tempDir('check-aside');
    const source = join(dir, 'app.db');
    largeDatabase(source);
    assert.ok((await fs.stat(source)).size >= 32 * 1024 * 1024, 'the database is large enough to be checked aside');
    const tmp = await tempDir('check-aside-tmp');
    const target = join(dir, 'backups');
    const env = { ...process.env, DBBACKUP_TMPDIR: tmp };

    const backup = await cli(['backup', '--source', source, '--target', target, '--json'], { env });
    assert.equal(backup.code, 0, backup.stderr);
    const manifest = JSON.parse(backup.stdout) as Manifest;
    assert.deepEqual(manifest.tables, { payload: 40000, t: 2 });
    assert.deepEqual(await fs.readdir(tmp), [], 'the snapshot is removed');
    assert.deepEqual(inspectionsUnder(tmp), [], 'the check process has exited');
    await assert.rejects(fs.stat(`${source}.dbbackup-lock`), { code: 'ENOENT' });

    const verify = await cli(['verify', '--target', target, '--latest']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    const copy = join(dir, 'copy.db');
    const restore = await cli(['restore', '--target', target, '--latest', '--to', copy, '--confirm', 'copy.db']);
    assert.equal(restore.code, 0, restore.stderr);
    const restored = new Database(copy, { readonly: true });
    try {
      assert.equal(restored.prepare('select count(*) from payload').pluck().get(), 40000);
    } finally {
      restored.close();
    }
  });

  test('a snapshot that fails integrity_check stores nothing in a directory or S3, in one line, and leaves nothing behind', async () => {
    const dir = await tempDir('check-aside-bad');
    const source = join(dir, 'app.db');
    largeDatabase(source, { damagedIndex: true });
    const tmp = await tempDir('check-aside-bad-tmp');
    // The upload is under way when the check fails: a directory's temp file and an S3 multipart upload alike are undone.
    const bucket = await createBucket('check-aside');
    for (const [target, where] of [
      [join(dir, 'backups'), { dir: join(dir, 'backups') }],
      [`s3://${bucket}`, { bucket }],
    ] as const) {
      const result = await cli(['backup', '--source', source, '--target', target], {
        env: { ...process.env, DBBACKUP_TMPDIR: tmp },
      });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /failed integrity_check: row 1 missing from index ti/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await fs.readdir(tmp), []);
      assert.deepEqual(inspectionsUnder(tmp), []);
      await assertOnlyFailedRunRecord(where, { error: /failed integrity_check/ });
      await assert.rejects(fs.stat(`${source}.dbbackup-lock`), { code: 'ENOENT' });
    }
  });

  test('the check runs while the snapshot is read; a run given up before it ends (cleanup) kills it and removes the snapshot', async () => {
    const dir = await tempDir('check-aside-cleanup');
    const source = join(dir, 'app.db');
    largeDatabase(source);
    const tmp = await tempDir('check-aside-cleanup-tmp');
    const engine = new SqliteEngine(source, { tmpDir: tmp });

    const dump = await engine.dump({});
    assert.equal(inspectionsUnder(tmp).length, 1, 'the check is under way as the snapshot starts to flow');
    dump.stream.resume();
    await dump.cleanup();
    assert.deepEqual(inspectionsUnder(tmp), [], 'cleanup ends the check');
    assert.deepEqual(await fs.readdir(tmp), []);
    await assert.rejects(fs.stat(`${source}.dbbackup-lock`), { code: 'ENOENT' });

    // Left to finish, the same check gives the manifest's counts.
    const whole = await engine.dump({});
    whole.stream.resume();
    assert.deepEqual((await whole.tableCounts)?.tables, { payload: 40000, t: 2 });
    await whole.cleanup();
    assert.deepEqual(inspectionsUnder(tmp), []);
  });

  test('stopping a check ends its process at once; a file that is no database is a rejection naming it, not a crash', async () => {
    const dir = await tempDir('check-aside-stop');
    const source = join(dir, 'app.db');
    largeDatabase(source);
    const running = inspectSqliteFileAside(source);
    await running.stop();
    assert.deepEqual(inspectionsUnder(dir), [], 'no check process is left once stop() resolves');
    await assert.rejects(running.report, /without a report/);

    const junk = join(dir, 'junk.db');
    await fs.writeFile(junk, Buffer.alloc(8192, 7));
    const bad = inspectSqliteFileAside(junk);
    await assert.rejects(bad.report, (error: Error & { code?: string }) => {
      assert.match(error.message, /not a database/);
      assert.equal(error.code, 'SQLITE_NOTADB');
      return true;
    });
    await bad.stop();
    assert.deepEqual(inspectionsUnder(dir), []);
  });

  test('a check process that dies without a report is named by its error, not by the version line Node ends its report with', async () => {
    const dir = await tempDir('check-aside-dies');
    // A process that cannot even start its check (a module that does not load does the same).
    const boom = join(dir, 'boom.cjs');
    await fs.writeFile(boom, "throw new Error('the check could not start here');\n");
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `--require ${boom}`;
    let running: ReturnType<typeof inspectSqliteFileAside>;
    try {
      running = inspectSqliteFileAside(join(dir, 'app.db'));
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
    }
    await assert.rejects(running.report, (error: Error) => {
      assert.match(error.message, /^the SQLite check ended \(exit 1\) without a report: Error: the check could not start here$/);
      return true;
    });
    await running.stop();
  });

  test('a run killed outright (SIGKILL, a second Ctrl-C) does not leave its check reading the snapshot on for nobody', async () => {
    const dir = await tempDir('check-aside-orphan');
    const source = join(dir, 'app.db');
    slowToCheckDatabase(source);
    const tmp = await tempDir('check-aside-orphan-tmp');
    let cliProcess: ChildProcess | undefined;
    const running = cliWithin(['backup', '--source', source, '--target', join(dir, 'backups')], {
      env: { ...process.env, DBBACKUP_TMPDIR: tmp },
      limitMs: 60_000,
      onStart: (c) => {
        cliProcess = c;
      },
    });
    await waitFor('the check to start', () => inspectionsUnder(tmp).length === 1);
    const [check] = inspectionsUnder(tmp) as [number];
    // Held still, so that it is surely mid-check (from its start) when the run dies.
    process.kill(check, 'SIGSTOP');
    try {
      cliProcess?.kill('SIGKILL');
      const result = await running;
      assert.equal(result.signal, 'SIGKILL', `the run ended on its own first: ${result.stderr}`);
      process.kill(check, 'SIGCONT');
      const resumed = Date.now();
      await waitFor('the orphaned check to end', () => inspectionsUnder(tmp).length === 0, 30_000);
      // Its check alone takes seconds; it ends as soon as it runs again and finds its parent gone.
      assert.ok(Date.now() - resumed < 1000, `the check went on for ${Date.now() - resumed} ms after its run was killed`);
    } finally {
      // Whatever failed above, no stopped check is left behind on the machine.
      for (const pid of inspectionsUnder(tmp)) process.kill(pid, 'SIGKILL');
    }
  });
});
