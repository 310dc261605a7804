import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { quoteIdent } from '../../shared/engines/postgres/postgres-client.js';
import type { Manifest } from '../../shared/manifest.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { bucketKeys, cli, createBucket, pgPassword, pgUrl, sql, tempDir } from '../harness/test-env.js';

/**
 * Runs SQL in a harness database of any name. The harness's `sql` passes the name in a connection
 * string, which node-postgres decodes with decodeURI (a "?" or "#" would stay encoded).
 */
async function sqlIn<T extends pg.QueryResultRow>(database: string, text: string, values?: unknown[]): Promise<T[]> {
  const url = new URL(pgUrl());
  const client = new pg.Client({
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: pgPassword(),
    database,
  });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Creates a database with exactly this name, holding one row that says which database it is. */
async function namedDatabase(name: string): Promise<string> {
  await sql('postgres', `create database ${quoteIdent(name)}`);
  await sqlIn(name, 'create table whoami (name text)');
  await sqlIn(name, 'insert into whoami values ($1)', [name]);
  return name;
}

/** The URL of a harness database, its name percent-encoded as a URL needs it. */
function urlOf(name: string): string {
  const url = new URL(pgUrl());
  return `postgres://${url.username}:${url.password}@${url.host}/${encodeURIComponent(name)}`;
}

/** The harness server's URL with no database in it. */
function serverUrl(): string {
  const url = new URL(pgUrl());
  return `postgres://${url.username}:${url.password}@${url.host}`;
}

async function whoami(database: string): Promise<string> {
  return ((await sqlIn<{ name: string }>(database, 'select name from whoami'))[0] as { name: string }).name;
}

/**
 * The sessions dbbackup holds on these databases, and their advisory locks: none once a run has
 * ended (other test files run alongside, so only this test's databases are looked at).
 */
async function heldByDbbackup(databases: string[]): Promise<{ sessions: number; locks: number }> {
  const [row] = await sql<{ sessions: number; locks: number }>(
    'postgres',
    `select (select count(*)::int from pg_stat_activity
              where application_name = 'dbbackup' and datname = any($1)) as sessions,
            (select count(*)::int from pg_locks l join pg_stat_activity a using (pid)
              where l.locktype = 'advisory' and a.datname = any($1)) as locks`,
    [databases],
  );
  return row as { sessions: number; locks: number };
}

async function backupJson(args: string[], env?: NodeJS.ProcessEnv): Promise<Manifest> {
  const result = await cli(['backup', ...args, '--json'], env ? { env } : {});
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Manifest;
}

function suffix(): string {
  return randomBytes(3).toString('hex');
}

describe('database names: one namespace per database', () => {
  test('"sales eu" and "sales_eu" keep separate backups: restore --latest --database sales_eu restores sales_eu, though "sales eu" was backed up after it', async () => {
    const id = suffix();
    const underscored = await namedDatabase(`sales_eu_${id}`);
    const spaced = await namedDatabase(`sales eu_${id}`);
    const target = `s3://${await createBucket('names')}/prod`;

    const first = await backupJson(['--source', urlOf(underscored), '--target', target]);
    const second = await backupJson(['--source', urlOf(spaced), '--target', target]);

    const fresh = `restored_${id}`;
    const restore = await cli([
      'restore',
      '--target',
      target,
      '--latest',
      '--database',
      underscored,
      '--to',
      urlOf(fresh),
      '--confirm',
      fresh,
    ]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(await whoami(fresh), underscored);
    assert.equal(first.database, underscored);
    assert.equal(second.database, spaced);
    assert.notEqual(first.key.split('/')[2], second.key.split('/')[2], 'each database has its own key prefix');

    const listed = await cli(['list', '--target', target, '--database', spaced, '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Manifest[]).map((m) => [m.database, m.backup_file]),
      [[spaced, second.backup_file]],
    );
  });

  test('non-ASCII names that old versions sanitised alike (café, cafè) keep separate backups, in keys of safe characters only', async () => {
    const dir = await tempDir('cafe');
    const target = join(dir, 'backups');
    for (const name of ['café', 'cafè']) {
      const db = new Database(join(dir, `${name}.db`));
      db.exec('create table whoami (name text)');
      db.prepare('insert into whoami values (?)').run(name);
      db.close();
    }
    const acute = await backupJson(['--source', join(dir, 'café.db'), '--target', target]);
    const grave = await backupJson(['--source', join(dir, 'cafè.db'), '--target', target]);
    assert.equal(acute.database, 'café');
    assert.equal(grave.database, 'cafè');
    for (const manifest of [acute, grave]) assert.match(manifest.key, /^[A-Za-z0-9._%/-]+$/);
    assert.notEqual(acute.key.split('/')[1], grave.key.split('/')[1]);

    const restored = join(dir, 'restored.db');
    const result = await cli([
      'restore',
      '--target',
      target,
      '--latest',
      '--database',
      'café',
      '--to',
      restored,
      '--confirm',
      'restored.db',
    ]);
    assert.equal(result.code, 0, result.stderr);
    const db = new Database(restored, { readonly: true });
    assert.equal(db.prepare('select name from whoami').pluck().get(), 'café');
    db.close();
  });

  test("restore --path checks the manifest's database against --database and changes nothing when they differ", async () => {
    const dir = await tempDir('path-database');
    const target = join(dir, 'backups');
    const source = join(dir, 'sales eu.db');
    const db = new Database(source);
    db.exec("create table whoami (name text); insert into whoami values ('sales eu')");
    db.close();
    const backup = await backupJson(['--source', source, '--target', target]);

    const destination = join(dir, 'sales_eu.db');
    const result = await cli([
      'restore',
      '--path',
      backup.location,
      '--database',
      'sales_eu',
      '--to',
      destination,
      '--confirm',
      'sales_eu.db',
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /is a backup of "sales eu", not of "sales_eu"/);
    await assert.rejects(fs.stat(destination), { code: 'ENOENT' });
  });

  test('a backup written by an older version (sanitised name in its key and manifest, no run id) is still listed, verified and restored', async () => {
    const dir = await tempDir('legacy');
    const target = join(dir, 'backups');
    const source = join(dir, 'sales eu.db');
    const db = new Database(source);
    db.exec("create table whoami (name text); insert into whoami values ('sales eu')");
    db.close();
    // Made from a backup of today, then moved to where an older version put it, under the name it gave it.
    const today = await backupJson(['--source', source, '--target', target]);
    const legacyFile = 'backup_sales_eu_20250102_030405.db.gz';
    const legacyKey = `sqlite/sales_eu/2025/${legacyFile}`;
    await fs.mkdir(join(target, 'sqlite/sales_eu/2025'), { recursive: true });
    await fs.rename(join(target, today.key), join(target, legacyKey));
    await fs.rm(join(target, `${today.key}.json`));
    const legacy = {
      ...today,
      backup_file: legacyFile,
      database: 'sales_eu',
      key: legacyKey,
      location: join(target, legacyKey),
      timestamp: '20250102_030405',
      datetime: '2025-01-02T03:04:05.000Z',
    } as Record<string, unknown>;
    // Older versions wrote no list of skipped tables.
    delete legacy.tables_skipped;
    await fs.writeFile(join(target, `${legacyKey}.json`), JSON.stringify(legacy, null, 2));

    const listed = await cli(['list', '--target', target, '--database', 'sales_eu', '--json']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as Manifest[]).map((m) => m.backup_file),
      [legacyFile],
    );
    const verified = await cli(['verify', '--target', target, '--database', 'sales_eu']);
    assert.equal(verified.code, 0, verified.stderr);
    const restored = join(dir, 'restored.db');
    const result = await cli(['restore', '--target', target, '--file', legacyFile, '--to', restored, '--confirm', 'restored.db']);
    assert.equal(result.code, 0, result.stderr);

    // Asked for by its own name, it is not mistaken for its backups of old, but pointed to them.
    const byName = await cli(['restore', '--target', target, '--latest', '--database', 'sales eu', '--to', restored]);
    assert.equal(byName.code, 2, byName.stderr);
    assert.match(
      byName.stderr,
      /no completed backups in .* for database sales eu\. older versions of dbbackup stored its backups as database sales_eu/,
    );
  });
});

describe('database names: any valid PostgreSQL name backs up and restores', () => {
  const specials = ['+', ',', ':', '&', ';', '/', '?', '#', '@', '$', '=', '%', ' ', "'", '"', '\\', 'é'];

  test('a name holding + , : & ; / ? # @ $ = % and quotes, from a percent-encoded URL and from PGDATABASE, backs up and restores by that name', async () => {
    const id = suffix();
    const name = await namedDatabase(`odd${specials.join('')}${id}`);
    const target = `s3://${await createBucket('odd')}`;

    const fromUrl = await backupJson(['--source', urlOf(name), '--target', target]);
    assert.equal(fromUrl.database, name);
    assert.ok(fromUrl.tables['public.whoami'] === 1);
    const fromEnv = await backupJson(['--source', serverUrl(), '--target', target], { ...process.env, PGDATABASE: name });
    assert.equal(fromEnv.database, name);
    assert.equal(fromEnv.key.split('/')[1], fromUrl.key.split('/')[1]);

    const copy = `copy${specials.join('')}${id}`;
    const restore = await cli([
      'restore',
      '--target',
      target,
      '--latest',
      '--database',
      name,
      '--to',
      urlOf(copy),
      '--confirm',
      copy,
    ]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(await whoami(copy), name);
    assert.deepEqual(await heldByDbbackup([name, copy]), { sessions: 0, locks: 0 });
  });

  test('each of those characters alone in a name backs up from its URL', async () => {
    const id = suffix();
    const target = await tempDir('each-char');
    for (const char of specials) {
      const name = await namedDatabase(`c${char}${id}`);
      const manifest = await runBackup({ source: urlOf(name), target });
      assert.equal(manifest.database, name, `a database named ${JSON.stringify(name)}`);
      assert.equal(manifest.tables['public.whoami'], 1);
    }
  });

  test('a non-ASCII name of 63 bytes, the longest there is, restores over itself and leaves no other database behind', async () => {
    const id = suffix();
    const stem = 'é'.repeat(28);
    const name = await namedDatabase(`${stem}_${id}`);
    assert.equal(Buffer.byteLength(name), 63);
    const target = await tempDir('long-name');
    await runBackup({ source: urlOf(name), target });
    await sqlIn(name, "update whoami set name = 'changed after the backup'");

    const result = await cli([
      'restore',
      '--target',
      target,
      '--latest',
      '--database',
      name,
      '--to',
      urlOf(name),
      '--confirm',
      name,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await whoami(name), name);
    const left = await sql<{ datname: string }>('postgres', 'select datname from pg_database where starts_with(datname, $1)', [
      stem,
    ]);
    assert.deepEqual(
      left.map((r) => r.datname),
      [name],
    );
  });

  test('a malformed percent-encoding or a bare "#" in the URL is refused with one line and exit 2, leaving nothing behind', async () => {
    // "sales_<id>#eu" must not quietly back up "sales_<id>", which exists: libpq would read another name than node-postgres.
    const existing = await namedDatabase(`sales_${suffix()}`);
    const bucket = await createBucket('badurl');
    const tmp = await tempDir('badurl-tmp');
    const env = { ...process.env, DBBACKUP_TMPDIR: tmp };
    const password = pgPassword();
    for (const [source, pattern] of [
      [`${urlOf(existing)}%zz`, /invalid percent-encoding in the PostgreSQL URL's database name/],
      [`${urlOf(existing)}#eu`, /"#".*percent-encode it as %23/],
    ] as const) {
      const result = await cli(['backup', '--source', source, '--target', `s3://${bucket}`], { env });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, pattern);
      assert.ok(!result.stderr.includes(password), 'the password is not shown');
      assert.ok(!/\n\s+at /.test(result.stderr), 'no stack trace');
    }
    assert.deepEqual(await bucketKeys(bucket), []);
    assert.deepEqual(await fs.readdir(tmp), []);
    assert.deepEqual(await heldByDbbackup([existing]), { sessions: 0, locks: 0 });
  });
});
