import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { cli, createDatabase, pgUrl, sql, tempDir, uniqueName } from '../harness/test-env.js';

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

  after(async () => {
    for (const db of created) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});
