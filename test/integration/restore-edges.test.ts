import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import {
  cli,
  cliWithin,
  createDatabase,
  killCliAt,
  pgUrl,
  sql,
  tempDir,
  treeOf,
  uniqueName,
  waitFor,
} from '../harness/test-env.js';

const restoreArgs = (target: string, db: string) => [
  'restore',
  '--target',
  target,
  '--latest',
  '--database',
  db,
  '--to',
  pgUrl(db),
  '--confirm',
  db,
];

/** The databases of the cluster whose names start with `start`. */
async function databasesStarting(start: string): Promise<string[]> {
  const rows = await sql<{ datname: string }>(
    'postgres',
    'select datname from pg_database where starts_with(datname, $1) order by 1',
    [start],
  );
  return rows.map((r) => r.datname);
}

/** The pid of a pg_restore whose command line names `name`, if one runs. */
function pgRestoreNaming(name: string): number | undefined {
  try {
    const out = execFileSync('pgrep', ['-f', `^[^ ]*pg_restore .*${name}`], { encoding: 'utf8' });
    return Number(out.trim().split('\n')[0]);
  } catch {
    return undefined;
  }
}

describe('restore at the edges: long names, long file names, engines side by side, killed runs', () => {
  test("two databases whose names share their first 45 characters: a restore of one never drops the other's temporary database", async () => {
    const stem = `shared_start_${'x'.repeat(32)}`;
    const a = await createDatabase(`${stem}_a`);
    const b = await createDatabase(`${stem}_b`);
    const target = await tempDir('shared-start');
    for (const db of [a, b]) {
      await sql(db, 'create table t (id int); insert into t values (1)');
      await runBackup({ source: pgUrl(db), target });
    }
    // b's restore dies after creating its new database: what it left is b's to clean up, not a's.
    await killCliAt('restore', [...restoreArgs(target, b), '--no-safety-backup']);
    const left = (await databasesStarting(stem.slice(0, 20))).filter((d) => d !== a && d !== b);
    assert.equal(left.length, 1, `b's temporary database: ${left.join(', ')}`);

    const result = await cli([...restoreArgs(target, a), '--no-safety-backup']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      (await databasesStarting(stem.slice(0, 20))).filter((d) => d !== a && d !== b),
      left,
      "a left b's alone",
    );

    const again = await cli([...restoreArgs(target, b), '--no-safety-backup']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await databasesStarting(stem.slice(0, 20)), [a, b].sort(), 'b removed its own leftover');
  });

  test('--latest restores the newest PostgreSQL backup into PostgreSQL, though a SQLite backup of the same name is newer', async () => {
    const db = await createDatabase('engines');
    await sql(db, 'create table t (id int); insert into t values (1), (2)');
    const target = await tempDir('engines');
    await runBackup({ source: pgUrl(db), target });
    const sqlite = join(await tempDir('engines-sqlite'), `${db}.db`);
    execFileSync('sqlite3', [sqlite, 'create table s (id int);']);
    await runBackup({ source: sqlite, target });
    await sql(db, 'delete from t');

    const result = await cli([...restoreArgs(target, db), '--no-safety-backup']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await sql(db, 'select count(*)::int as n from t'), [{ n: 2 }]);
  });

  test('--path to a file whose name is 240 characters long: the safety backup is taken and the restore completes', async () => {
    const db = await createDatabase('long_file');
    await sql(db, 'create table t (id int); insert into t values (1)');
    const target = await tempDir('long-file');
    const manifest = await runBackup({ source: pgUrl(db), target });
    const long = join(target, `${'b'.repeat(240 - '.dump.gz'.length)}.dump.gz`);
    await fs.rename(join(target, manifest.key), long);
    await fs.rename(join(target, `${manifest.key}.json`), `${long}.json`);
    await sql(db, 'insert into t values (2)');

    const result = await cli(['restore', '--path', long, '--to', pgUrl(db), '--confirm', db, '--safety-target', target]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await sql(db, 'select count(*)::int as n from t'), [{ n: 1 }]);
  });

  test('a SIGKILLed restore leaves no pg_restore running, and the next restore removes its download and succeeds', async () => {
    // pg_restore waits on a real lock: a session dropping the role its GRANT names holds it until rolled back.
    const role = uniqueName('held_role');
    await sql('postgres', `create role ${role}`);
    const source = await createDatabase('killed_source');
    await sql(source, `create table t (id int); insert into t values (1); grant select on t to ${role}`);
    const target = await tempDir('killed-restore');
    await runBackup({ source: pgUrl(source), target });
    await sql('postgres', `drop database "${source}" with (force)`);
    const db = uniqueName('killed_dest');
    const tmp = await tempDir('killed-restore-tmp');
    const env = { ...process.env, DBBACKUP_TMPDIR: tmp };
    const args = ['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db, '--no-safety-backup'];

    const blocker = new (await import('pg')).default.Client({ connectionString: pgUrl() });
    await blocker.connect();
    let cliChild: ChildProcess | undefined;
    let pid: number | undefined;
    try {
      await blocker.query('begin');
      await blocker.query(`drop role ${role}`);
      const running = cliWithin(args, { env, limitMs: 60_000, onStart: (c) => (cliChild = c) });
      await waitFor('pg_restore to wait on the role', () => (pid = pgRestoreNaming(db)) !== undefined);
      cliChild?.kill('SIGKILL');
      assert.equal((await running).signal, 'SIGKILL');
      await waitFor('the orphaned pg_restore to end', () => pgRestoreNaming(db) === undefined, 10_000).catch(() => {});
      assert.equal(pgRestoreNaming(db), undefined, `pg_restore ${pid} outlived the killed run`);
    } finally {
      await blocker.query('rollback').catch(() => {});
      await blocker.end();
    }
    assert.notDeepEqual(await treeOf(tmp), [], 'the killed run left its download');

    const result = await cli(args, { env });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await sql(db, 'select count(*)::int as n from t'), [{ n: 1 }]);
    assert.deepEqual(await treeOf(tmp), [], "the next run removed the dead run's download");
    assert.deepEqual(await databasesStarting(`${db}__`), []);
  });
});
