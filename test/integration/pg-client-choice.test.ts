import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { cli, createDatabase, pgUrl, run, sql, tempDir } from '../harness/test-env.js';

// The harness's server and its clients are one major (Debian's 15): the cross-major cases run for
// real in the version matrix (npm run test:matrix), this checks what the user is told on any machine.
describe('backup and restore name the PostgreSQL client they chose', () => {
  test('the backup output and the manifest name the pg_dump that ran; the restore output and result name the pg_restore', async () => {
    const db = await createDatabase('client');
    await sql(db, 'create table t (id int primary key); insert into t select generate_series(1, 50)');
    const target = await tempDir('client');
    const serverVersion = (await sql<{ v: string }>(db, "select current_setting('server_version') as v"))[0]?.v ?? '';
    const serverMajor = serverVersion.split('.')[0];

    const backup = await cli(['backup', '--source', pgUrl(db), '--target', target]);
    assert.equal(backup.code, 0, backup.stderr);
    const line = /^written by (pg_dump \(PostgreSQL\) (\d+)\.\S+.*) from server (.+)$/m.exec(backup.stdout);
    assert.ok(line, `the backup names its client:\n${backup.stdout}`);
    assert.equal(line[2], serverMajor, 'pg_dump of the server major');
    assert.equal(line[3], serverVersion);
    const manifestFile = (await run('find', [target, '-name', '*.json'])).stdout.trim();
    const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as { engine_version: { pg_dump: string } };
    assert.equal(manifest.engine_version.pg_dump, line[1], 'the manifest records the pg_dump that ran');

    const to = await createDatabase('client_to');
    const restore = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(to), '--confirm', to]);
    assert.equal(restore.code, 0, restore.stderr);
    const used = /^restored with (pg_restore \(PostgreSQL\) (\d+)\.\S+.*) \((\/.+\/pg_restore)\)$/m.exec(restore.stdout);
    assert.ok(used, `the restore names its client:\n${restore.stdout}`);
    assert.equal(used[2], serverMajor, 'pg_restore of the destination server major');
    assert.equal((await run(used[3] ?? '', ['--version'])).stdout.trim(), used[1], 'the path named is the program that ran');
    assert.equal((await sql<{ n: string }>(to, 'select count(*)::text as n from t'))[0]?.n, '50');

    const again = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(to), '--confirm', to, '--json']);
    assert.equal(again.code, 0, again.stderr);
    assert.match((JSON.parse(again.stdout) as { client?: string }).client ?? '', /^pg_restore \(PostgreSQL\) \d+/);
  });

  test('a plain-format restore names the psql that ran it', async () => {
    const db = await createDatabase('client_plain');
    await sql(db, 'create table t (id int primary key); insert into t values (1)');
    const target = join(await tempDir('client_plain'), 'b');
    const backup = await cli(['backup', '--source', pgUrl(db), '--target', target, '--format', 'plain']);
    assert.equal(backup.code, 0, backup.stderr);
    const to = await createDatabase('client_plain_to');
    const restore = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(to), '--confirm', to]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^restored with psql \d+ \(\/.+\/psql\)$/m);
  });
});
