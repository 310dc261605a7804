import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, describe, test } from 'node:test';
import type pg from 'pg';
import { runBackup } from '../../shared/backup/run-backup.js';
import { PostgresEngine } from '../../shared/engines/postgres/postgres-engine.js';
import { DumpError } from '../../shared/errors.js';
import { readSettings } from '../../shared/settings.js';
import { cli, createDatabase, pgUrl, sessionsOn, sql, tempDir, uniqueName, waitFor } from '../harness/test-env.js';

describe('PostgreSQL row counts: a backup that verify calls good restores', () => {
  const created: string[] = [];

  test('tables over 64 MB, one never analyzed and one analyzed before most of its rows were deleted: the manifest holds exact counts, and verify and restore both pass', async () => {
    const db = await createDatabase('bigtables');
    created.push(db);
    // Autovacuum off on both tables: otherwise it may analyze them while the test runs and hide the failure.
    await sql(
      db,
      `create table never_analyzed (id int, pad text) with (autovacuum_enabled = false);
       insert into never_analyzed select g, repeat(md5(g::text), 8) from generate_series(1, 300000) g;
       create table shrunk (id int, pad text) with (autovacuum_enabled = false);
       insert into shrunk select g, repeat(md5(g::text), 8) from generate_series(1, 300000) g;
       analyze shrunk;
       delete from shrunk where id > 30000;`,
    );
    const stats = await sql<{ relname: string; reltuples: number; bytes: string }>(
      db,
      `select relname, reltuples, pg_relation_size(oid)::text as bytes from pg_class where relname in ('never_analyzed', 'shrunk') order by 1`,
    );
    for (const s of stats) assert.ok(Number(s.bytes) > 64 * 1024 * 1024, `${s.relname} is over 64 MB (${s.bytes} bytes)`);
    assert.deepEqual(
      stats.map((s) => [s.relname, s.reltuples]),
      [
        ['never_analyzed', -1],
        ['shrunk', 300000],
      ],
      'the planner knows nothing of one table and has a stale estimate of the other',
    );

    const dir = await tempDir('bigtables');
    const manifest = await runBackup({ source: pgUrl(db), target: dir });

    const verify = await cli(['verify', '--target', dir, '--latest']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);

    const copy = uniqueName('bigtables_copy');
    created.push(copy);
    const restore = await cli(['restore', '--path', manifest.location, '--to', pgUrl(copy), '--confirm', copy]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^restored bigtables_copy_\w+: 2 tables, 330000 rows, .* 2\/2 checks passed/m);
    assert.deepEqual(manifest.tables, { 'public.never_analyzed': 300000, 'public.shrunk': 30000 });
    assert.deepEqual(manifest.tables_estimated, []);
  });

  test('pg_dump streams while the counts are still being taken, and a count that fails then fails the dump and stops pg_dump', async () => {
    const db = await createDatabase('countsalong');
    created.push(db);
    // Megabytes of dump, so that pg_dump is still writing when the count fails.
    await sql(db, 'create table t as select g, md5(g::text) as pad from generate_series(1, 200000) g');
    const engine = new PostgresEngine(pgUrl(db), { settings: readSettings(process.env) });
    try {
      await engine.probe();
      const session = (await sessionsOn(db)).find((s) => s.application_name === 'dbbackup');
      assert.ok(session, 'the probe keeps its session open');
      // A stand-in for a count that takes long (a table of hundreds of GB): the session's server
      // process, stopped, answers no query until it is continued.
      process.kill(session.pid, 'SIGSTOP');
      let dump: Awaited<ReturnType<PostgresEngine['dump']>>;
      let streamFailed: Promise<unknown[]>;
      try {
        dump = await engine.dump();
        streamFailed = once(dump.stream, 'error');
        await once(dump.stream, 'readable');
        const first = dump.stream.read() as Buffer;
        assert.equal(first.subarray(0, 5).toString(), 'PGDMP', 'the dump began while no count could have been taken');
        // The count then fails: the session is ended under it (as a server restart would).
        await sql('postgres', 'select pg_terminate_backend($1)', [session.pid]);
      } finally {
        process.kill(session.pid, 'SIGCONT');
      }
      const countsError = await Promise.resolve(dump.tableCounts).then(
        () => assert.fail('the counts succeeded on a session that was ended'),
        (e: unknown) => e,
      );
      assert.ok(countsError instanceof DumpError, String(countsError));
      assert.match(countsError.message, /^reading postgres:\/\/.* failed/);
      // The dump fails with it, unread bytes and all, and pg_dump is stopped.
      assert.equal((await streamFailed)[0], countsError);
      await waitFor('pg_dump to stop', async () => !(await sessionsOn(db)).some((s) => s.application_name === 'pg_dump'));
      await dump.cleanup();
    } finally {
      await engine.close();
    }
  });

  test('a backup stopped while a count runs long ends the count on the server: the session and its advisory lock go at once, and the next backup starts', async () => {
    const db = await createDatabase('countstopped');
    created.push(db);
    await sql(db, 'create table t (g int)');
    const settings = readSettings(process.env);
    const engine = new PostgresEngine(pgUrl(db), { settings });
    await engine.probe();
    // A stand-in for the count of a table of hundreds of GB: a query of the same session that runs
    // for a minute (the engine's session is private; no small table counts for that long).
    const session = (engine as unknown as { session: pg.Client }).session;
    const long = session.query('select pg_sleep(60)').catch(() => {});
    await waitFor('the long query to run', async () =>
      (await sessionsOn(db)).some((s) => s.application_name === 'dbbackup' && s.state === 'active'),
    );
    await engine.close();
    await long;
    await waitFor(
      'the session to end on the server',
      async () => !(await sessionsOn(db)).some((s) => s.application_name === 'dbbackup'),
      8_000,
    );
    const next = new PostgresEngine(pgUrl(db), { settings });
    try {
      await next.probe();
    } finally {
      await next.close();
    }
  });

  test("a server that cannot export a snapshot: counts taken outside the dump's snapshot are marked estimated, so rows written meanwhile do not fail the restore of a good backup", async () => {
    const db = await createDatabase('countsnosnapshot');
    created.push(db);
    await sql(db, 'create table t as select g from generate_series(1, 1000) g');
    // A stand-in for a server where pg_export_snapshot() fails (a pooler in transaction mode, a
    // standby of an old version): a function of the same name, found first on the search path.
    await sql(
      db,
      `create function public.pg_export_snapshot() returns text language plpgsql as $$ begin raise exception 'no snapshots here'; end $$`,
    );
    await sql(db, `alter database "${db}" set search_path = public, pg_catalog`);
    const engine = new PostgresEngine(pgUrl(db), { settings: readSettings(process.env) });
    try {
      await engine.probe();
      const dump = await engine.dump();
      // Rows committed while the counts run in the probe's own snapshot, and before pg_dump takes its own.
      await sql(db, 'insert into t select g from generate_series(1001, 1500) g');
      dump.stream.resume();
      await once(dump.stream, 'end');
      const counts = await dump.tableCounts;
      assert.ok(counts);
      const exact = counts.tables['public.t'] !== undefined && !counts.estimated.includes('public.t');
      assert.ok(!exact, `an exact count from another snapshot than the dump's: ${JSON.stringify(counts)}`);
      await dump.cleanup();
    } finally {
      await engine.close();
    }
  });

  after(async () => {
    for (const db of created) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});
