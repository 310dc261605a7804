import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { restoreEventWording } from '../../shared/deployment/run-function-restore.js';
import { ConfigError, formatErrorLine } from '../../shared/errors.js';
import { runRestore } from '../../shared/restore/run-restore.js';
import { FileTarget } from '../../shared/targets/file-target.js';
import { cli, createDatabase, pgUrl, sql, tempDir, uniqueName } from '../harness/test-env.js';

/** `dbbackup restore --latest` of `db` from `dir` into the database `to` on the test server, confirmed. */
function restoreLatest(dir: string, db: string, to: string, ...extra: string[]) {
  return cli(['restore', '--target', dir, '--latest', '--database', db, '--to', pgUrl(to), '--confirm', to, ...extra]);
}

/** Roles one test creates: `keep` exists on the destination, `gone` is dropped after the backup, `nobody` holds no grant. */
interface Roles {
  readonly keep: string;
  readonly gone: string;
  readonly nobody: string;
}

/** What a role may do in the database, as the server answers it: the facts a restore must carry. */
async function access(db: string, roles: Roles) {
  const [row] = await sql(
    db,
    `select has_function_privilege($1, 'app.wipe()', 'execute') as nobody_runs_wipe,
            has_function_privilege($2, 'app.wipe()', 'execute') as keep_runs_wipe,
            has_table_privilege($2, 'app.t', 'select') as keep_selects,
            has_column_privilege($2, 'app.t', 'owner', 'update') as keep_updates_owner,
            has_table_privilege($1, 'app.t', 'select') as nobody_selects,
            has_schema_privilege($2, 'app', 'usage') as keep_uses_app,
            (select array_agg(polname::text || ':' || array_to_string(array(select rolname from pg_roles where oid = any(polroles) order by 1), ',') order by polname)
               from pg_policy where polrelid = 'app.t'::regclass) as policies,
            (select array_agg(d order by d) from (select pg_get_userbyid(defaclrole)::text || ':' || defaclobjtype::text || ':' || coalesce(defaclacl::text, '') as d
               from pg_default_acl) defaults) as default_privileges`,
    [roles.nobody, roles.keep],
  );
  return row as Record<string, unknown>;
}

describe('PostgreSQL restore never widens access when roles are missing', () => {
  const databases: string[] = [];
  const createdRoles: string[] = [];

  /**
   * A database locked down as an application would be: a SECURITY DEFINER function nobody but `keep`
   * may run, a table granted to an existing and to a missing role, default privileges for and to the
   * missing role, and row-level-security policies for it alone and for it with an existing role.
   */
  async function lockedDown(): Promise<{ db: string; dir: string; roles: Roles; before: Record<string, unknown> }> {
    const db = await createDatabase('privileges');
    databases.push(db);
    const id = db.slice(-8);
    const roles = { keep: `keep_${id}`, gone: `gone ${id}`, nobody: `nobody_${id}` };
    createdRoles.push(roles.keep, roles.gone, roles.nobody);
    await sql('postgres', `create role ${roles.keep}; create role "${roles.gone}"; create role ${roles.nobody}`);
    await sql(
      db,
      `create schema app;
       create table app.t (id int primary key, owner text);
       insert into app.t select g, 'user' || g from generate_series(1, 50) g;
       grant usage on schema app to public, "${roles.gone}";
       grant select on app.t to ${roles.keep};
       grant select, insert on app.t to "${roles.gone}";
       grant update (owner) on app.t to "${roles.gone}", ${roles.keep};
       create function app.wipe() returns void language sql security definer as 'delete from app.t';
       revoke execute on function app.wipe() from public;
       grant execute on function app.wipe() to ${roles.keep};
       alter default privileges for role "${roles.gone}" revoke execute on functions from public;
       alter default privileges for role ${roles.keep} revoke execute on functions from public;
       alter default privileges in schema app grant select on tables to "${roles.gone}";
       alter table app.t enable row level security;
       create policy only_gone on app.t to "${roles.gone}" using (owner = current_user);
       create policy gone_and_keep on app.t as restrictive to ${roles.keep}, "${roles.gone}" using (id > (select -1 from app.t limit 1));`,
    );
    const before = await access(db, roles);
    const dir = await tempDir('privileges');
    await runBackup({ source: pgUrl(db), target: dir });
    await sql('postgres', `drop role "${roles.gone}"`).catch(async () => {
      await sql(db, `drop owned by "${roles.gone}"`);
      await sql('postgres', `drop role "${roles.gone}"`);
    });
    return { db, dir, roles, before };
  }

  test('by default the restore stops before touching anything: one line naming the role and the choices, exit 2, no safety copy', async () => {
    const { db, dir, roles } = await lockedDown();
    await sql(db, `insert into app.t values (1000, 'written after the backup')`);
    const result = await cli(['restore', '--target', dir, '--latest', '--database', db, '--to', pgUrl(db), '--confirm', db]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, new RegExp(`"${roles.gone}"`));
    assert.match(result.stderr, /--missing-roles create-nologin/);
    assert.match(result.stderr, /--missing-roles skip-their-grants/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.deepEqual(await sql(db, 'select owner from app.t where id = 1000'), [{ owner: 'written after the backup' }]);
    assert.equal((await listBackups(new FileTarget(dir))).backups.length, 1, 'no pre-restore copy was written');
    assert.deepEqual(await sql('postgres', `select datname from pg_database where datname like $1`, [`${db}__dbbackup_%`]), []);
  });

  test('the restore function names its event field in the same refusal', async () => {
    const { db, dir } = await lockedDown();
    await assert.rejects(
      runRestore({ target: dir, latest: true, database: db, to: pgUrl(db), confirm: db, noSafetyBackup: true }),
      (error) =>
        error instanceof ConfigError && /"missingRoles": "skip-their-grants"/.test(formatErrorLine(error, restoreEventWording)),
    );
  });

  test('skip-their-grants keeps every REVOKE and every grant to an existing role: nobody may run the locked-down function', async () => {
    const { db, dir, roles, before } = await lockedDown();
    const result = await runRestore({
      target: dir,
      latest: true,
      database: db,
      to: pgUrl(db),
      confirm: db,
      noSafetyBackup: true,
      missingRoles: 'skip-their-grants',
    });
    assert.equal(result.restored, true);
    const after = await access(db, roles);
    assert.equal(after.nobody_runs_wipe, false, 'REVOKE EXECUTE FROM PUBLIC was restored');
    assert.equal(after.keep_runs_wipe, true);
    assert.equal(after.keep_selects, true);
    assert.equal(after.keep_updates_owner, true);
    assert.equal(after.keep_uses_app, true);
    assert.equal(after.nobody_selects, false);
    assert.deepEqual(after.policies, [`gone_and_keep:${roles.keep}`], 'the policy for the missing role alone is left out');
    assert.deepEqual(
      (after.default_privileges as string[]).filter((d) => d.startsWith(roles.keep)),
      (before.default_privileges as string[]).filter((d) => d.startsWith(roles.keep)),
    );
    // As an attacker would try it: an unprivileged role calls the SECURITY DEFINER function.
    await assert.rejects(sql(db, `set role ${roles.nobody}; select app.wipe()`), /permission denied for function wipe/);
    assert.equal((await sql(db, 'select count(*)::int as n from app.t'))[0]?.n, 50);
    assert.ok(
      result.warnings.some((w) => w.includes(roles.gone) && /left out \d+ statements/.test(w)),
      result.warnings.join('; '),
    );
  });

  test('create-nologin creates the missing role without login, and every privilege, default privilege and policy comes back as it was', async () => {
    const { db, dir, roles, before } = await lockedDown();
    const result = await restoreLatest(dir, db, db, '--no-safety-backup', '--missing-roles', 'create-nologin');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`warning: created roles .*${roles.gone}`));
    assert.deepEqual(await sql('postgres', 'select rolcanlogin from pg_roles where rolname = $1', [roles.gone]), [
      { rolcanlogin: false },
    ]);
    assert.deepEqual(await access(db, roles), before);
  });

  test('into a database that does not exist yet (another server): refused naming the role, then restored with skip-their-grants', async () => {
    const { db, dir, roles } = await lockedDown();
    const fresh = uniqueName('privileges_copy');
    databases.push(fresh);
    const refused = await restoreLatest(dir, db, fresh);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(`"${roles.gone}"`));
    assert.deepEqual(await sql('postgres', 'select datname from pg_database where datname like $1', [`${fresh}%`]), []);

    const restored = await restoreLatest(dir, db, fresh, '--missing-roles', 'skip-their-grants');
    assert.equal(restored.code, 0, restored.stderr);
    const after = await access(fresh, roles);
    assert.equal(after.nobody_runs_wipe, false);
    assert.equal(after.keep_runs_wipe, true);
    assert.equal(after.keep_selects, true);
  });

  test('grants in a schema named "- DATABASE", listed as "ACL - DATABASE TABLE t" like a database’s own ACL, are checked and kept as any', async () => {
    const db = await createDatabase('acl_lookalike');
    databases.push(db);
    const id = db.slice(-8);
    const roles = { keep: `keep_${id}`, gone: `gone_${id}` };
    createdRoles.push(roles.keep, roles.gone);
    await sql('postgres', `create role ${roles.keep}; create role ${roles.gone}`);
    await sql(
      db,
      `create schema "- DATABASE"; create table "- DATABASE".t (id int);
       grant usage on schema "- DATABASE" to ${roles.keep};
       grant select on "- DATABASE".t to ${roles.keep}; grant insert on "- DATABASE".t to ${roles.gone};
       revoke connect on database ${db} from public`,
    );
    const dir = await tempDir('acl-lookalike');
    await runBackup({ source: pgUrl(db), target: dir });
    await sql(db, `revoke insert on "- DATABASE".t from ${roles.gone}`);
    await sql('postgres', `drop role ${roles.gone}`);
    const fresh = uniqueName('acl_lookalike_copy');
    databases.push(fresh);
    const refused = await restoreLatest(dir, db, fresh);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, new RegExp(roles.gone));
    const restored = await restoreLatest(dir, db, fresh, '--missing-roles', 'skip-their-grants');
    assert.equal(restored.code, 0, restored.stderr);
    const [row] = await sql(
      fresh,
      `select has_table_privilege($1, '"- DATABASE".t', 'select') as keep_selects,
              has_database_privilege('public', current_database(), 'connect') as public_connects`,
      [roles.keep],
    );
    assert.deepEqual(row, { keep_selects: true, public_connects: false });
  });

  test('a restore that fails after create-nologin created a role drops that role again', async () => {
    const { db, dir, roles } = await lockedDown();
    // A stand-in for a fault during pg_restore: a row-count check that cannot pass (the manifest says 51 rows).
    const { backups } = await listBackups(new FileTarget(dir));
    const manifest = backups[0]?.manifest;
    assert.ok(manifest);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(`${manifest.location}.json`, JSON.stringify({ ...manifest, tables: { ...manifest.tables, 'app.t': 51 } }));
    await assert.rejects(
      runRestore({ path: manifest.location, to: pgUrl(db), confirm: db, noSafetyBackup: true, missingRoles: 'create-nologin' }),
    );
    assert.deepEqual(await sql('postgres', 'select rolname from pg_roles where rolname = $1', [roles.gone]), []);
  });

  after(async () => {
    for (const db of databases) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    for (const role of createdRoles) await sql('postgres', `drop role if exists "${role}"`).catch(() => {});
  });
});
