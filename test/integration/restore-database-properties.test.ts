import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { runRestore } from '../../shared/restore/run-restore.js';
import { pgUrl, run, sql, tempDir, uniqueName } from '../harness/test-env.js';

/** What `pg_dump --create` writes for the database itself (CREATE DATABASE, its ACL, settings, comment, roles' settings in it). */
async function databaseLevelDump(db: string): Promise<string[]> {
  const binDir = process.env.DBBACKUP_TEST_PG_BIN_DIR as string;
  const { stdout } = await run(join(binDir, 'pg_dump'), ['--create', '--schema-only', '-d', pgUrl(db)]);
  return stdout.split('\n').filter((line) => /\bDATABASE\b/.test(line) && !line.startsWith('--'));
}

/** What a new session in the database sees: the settings an application's unqualified queries rely on. */
async function sessionView(url: string) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `select current_setting('search_path') as search_path, current_setting('work_mem') as work_mem,
              (select count(*)::int from items) as unqualified_items`,
    );
    return rows[0];
  } finally {
    await client.end();
  }
}

describe('PostgreSQL restore in place keeps the database itself as it was', () => {
  const databases: string[] = [];
  const roles: string[] = [];

  test('search_path with several schemas, REVOKE CONNECT, connection limit, comment, role settings in it and the ICU locale survive repeated restores', async () => {
    const db = uniqueName('dbprops');
    databases.push(db);
    const reader = `reader_${db.slice(-8)}`;
    roles.push(reader);
    await sql('postgres', `create role ${reader}`);
    await sql(
      'postgres',
      `create database ${db} template template0 encoding 'UTF8' locale 'C' locale_provider icu icu_locale 'de-DE' connection limit 7`,
    );
    await sql(
      'postgres',
      `alter database ${db} set search_path = app, "My Schema", public;
       alter database ${db} set work_mem = '3MB';
       revoke connect, temporary on database ${db} from public;
       grant connect on database ${db} to ${reader};
       comment on database ${db} is 'the app''s database';
       alter role ${reader} in database ${db} set statement_timeout = '5s'`,
    );
    await sql(db, `create schema app; create table app.items (name text); insert into app.items values ('b'), ('ä'), ('a')`);
    const before = await databaseLevelDump(db);
    assert.ok(
      before.some((line) => /LOCALE_PROVIDER = icu/.test(line)),
      before.join('\n'),
    );
    const dir = await tempDir('dbprops');
    await runBackup({ source: pgUrl(db), target: dir });

    for (let round = 1; round <= 2; round++) {
      const result = await runRestore({
        target: dir,
        latest: true,
        database: db,
        to: pgUrl(db),
        confirm: db,
        noSafetyBackup: true,
      });
      assert.equal(result.restored, true);
      assert.deepEqual(result.warnings, []);
      assert.deepEqual(await databaseLevelDump(db), before, `after restore ${round}`);
    }
    assert.deepEqual(await sessionView(pgUrl(db)), {
      search_path: 'app, "My Schema", public',
      work_mem: '3MB',
      unqualified_items: 3,
    });
    assert.deepEqual(
      (await sql(db, 'select name from app.items order by name')).map((r) => r.name),
      ['a', 'ä', 'b'],
      'sorted by the ICU de-DE collation',
    );
    assert.deepEqual(await sql('postgres', `select has_database_privilege('public', $1, 'connect') as c`, [db]), [{ c: false }]);
  });

  test('restored by its owner, not a superuser: a superuser-only setting is skipped and named, everything else comes back', async () => {
    const db = uniqueName('dbprops_owner');
    databases.push(db);
    const owner = `owner_${db.slice(-8)}`;
    roles.push(owner);
    const password = `pw-${db.slice(-8)}`;
    await sql('postgres', `create role ${owner} login createdb password '${password}'`);
    await sql('postgres', `create database ${db} owner ${owner}`);
    await sql(
      'postgres',
      `alter database ${db} set search_path = app, public;
       alter database ${db} set log_min_duration_statement = 0;
       comment on database ${db} is 'owned by the app'`,
    );
    const ownerUrl = new URL(pgUrl(db));
    ownerUrl.username = owner;
    ownerUrl.password = password;
    await sql(
      db,
      `create schema app authorization ${owner}; create table app.items (name text); alter table app.items owner to ${owner};
                   insert into app.items values ('x')`,
    );
    const dir = await tempDir('dbprops-owner');
    await runBackup({ source: ownerUrl.toString(), target: dir });

    const result = await runRestore({
      target: dir,
      latest: true,
      database: db,
      to: ownerUrl.toString(),
      confirm: db,
      noSafetyBackup: true,
    });
    assert.equal(result.restored, true);
    assert.ok(
      result.warnings.some((w) => w.includes('log_min_duration_statement') && w.includes('not restored')),
      result.warnings.join('; '),
    );
    const [settings] = await sql(
      'postgres',
      `select s.setconfig, shobj_description(d.oid, 'pg_database') as comment, pg_get_userbyid(d.datdba) as owner
         from pg_database d left join pg_db_role_setting s on s.setdatabase = d.oid and s.setrole = 0 where d.datname = $1`,
      [db],
    );
    assert.deepEqual(settings, { setconfig: ['search_path=app, public'], comment: 'owned by the app', owner });
    assert.deepEqual(await sql(db, 'select name from items'), [{ name: 'x' }]);
  });

  after(async () => {
    for (const db of databases) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    for (const role of roles) await sql('postgres', `drop role if exists "${role}"`).catch(() => {});
  });
});
