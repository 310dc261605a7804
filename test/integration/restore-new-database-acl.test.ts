import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { cli, createDatabase, pgUrl, sql, tempDir, uniqueName } from '../harness/test-env.js';

const databases: string[] = [];
after(async () => {
  for (const db of databases) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
});

/**
 * A custom archive carries the source database's own ACL (its "ACL - DATABASE" entry, which
 * pg_restore applies only with --create): `REVOKE CONNECT, TEMPORARY ON DATABASE … FROM PUBLIC`.
 * Restored into a database that does not exist yet (another server, a new name), the restore created
 * it with the server's defaults, so every role on that server could connect to the restored data:
 * more accessible than in the backup. It now applies the archive's GRANTs and REVOKEs to it.
 */
test('a custom backup of a database closed to PUBLIC, restored into a database that does not exist yet, stays closed to PUBLIC', async () => {
  const dir = await tempDir('new-db-acl');
  const source = await createDatabase('closed_src');
  await sql(source, 'create table t (a int); insert into t values (1)');
  const app = uniqueName('acl_app');
  const gone = uniqueName('acl_gone');
  await sql('postgres', `create role ${app}; create role ${gone}`);
  await sql('postgres', `revoke connect, temporary on database "${source}" from public`);
  await sql('postgres', `grant connect on database "${source}" to ${app} with grant option`);
  await sql('postgres', `grant temporary on database "${source}" to ${gone}`);
  const backup = await cli(['backup', '--source', pgUrl(source), '--target', dir]);
  assert.equal(backup.code, 0, backup.stderr);
  // Gone before the restore: the destination server lacks it.
  await sql('postgres', `revoke all on database "${source}" from ${gone}; drop role ${gone}`);
  const fresh = uniqueName('closed_copy');
  databases.push(fresh);
  const restored = await cli([
    'restore',
    '--target',
    dir,
    '--latest',
    '--database',
    source,
    '--to',
    pgUrl(fresh),
    '--confirm',
    fresh,
  ]);
  assert.equal(restored.code, 0, restored.stderr);
  const [row] = await sql(
    'postgres',
    `select coalesce((select bool_or(a.grantee = 0) from pg_database d, aclexplode(d.datacl) a where d.datname = $1), datacl is null) as public_may
         from pg_database where datname = $1`,
    [fresh],
  );
  assert.equal(row?.public_may, false, 'PUBLIC may connect to the restored database, which the backup did not allow');
  const [grant] = await sql('postgres', `select has_database_privilege($1, $2, 'connect with grant option') as app_connects`, [
    app,
    fresh,
  ]);
  assert.equal(grant?.app_connects, true, "the existing role's grant came back");
  assert.match(restored.stdout + restored.stderr, new RegExp(`TEMPORARY of ${gone} on the database was not restored`));
  await sql('postgres', `drop database if exists "${fresh}" with (force)`);
  await sql('postgres', `drop database if exists "${source}" with (force)`);
  await sql('postgres', `drop role ${app}`);
});
