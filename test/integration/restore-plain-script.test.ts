import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { before, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { runRestrictedPsql } from '../../shared/engines/postgres/postgres-destination.js';
import type { Manifest } from '../../shared/manifest.js';
import { cli, createDatabase, pgUrl, sql, tempDir, uniqueName } from '../harness/test-env.js';

/**
 * A plain backup is run by psql, which obeys backslash commands: `\!` runs a shell command as the
 * restoring user, `\connect` writes into another database. A forged backup (its manifest forged to
 * match, as an attacker who can write the bucket would) must be refused before psql reads a line.
 */
describe('a plain SQL backup is data, never a program', () => {
  let dir: string;
  let genuine: Manifest;
  let script: string;
  let forgedCount = 0;

  before(async () => {
    dir = await tempDir('plain-script');
    const source = await createDatabase('plain_src');
    // Data that looks like psql commands: pg_dump writes it inside COPY blocks, where psql does not obey it.
    await sql(
      source,
      `create table notes (body text, id int primary key);
       insert into notes values (E'\\\\! touch /tmp/never', 1), ('\\connect postgres', 2), ('\\.', 3), (E'a\\nb', 4);
       create table other (id int);
       insert into other values (1);`,
    );
    // What psql reads as one statement across semicolons (a BEGIN ATOMIC body, a rule's actions in
    // parentheses), and a user mapping: genuine pg_dump output the check must pass.
    await sql(
      source,
      `create function add_one(a int) returns int language sql begin atomic select a + 1; end;
       create rule other_twice as on update to other do also (insert into other values (1); insert into other values (2));
       create extension postgres_fdw;
       create server elsewhere foreign data wrapper postgres_fdw options (dbname 'nowhere');
       create user mapping for current_user server elsewhere options (user 'nobody');`,
    );
    genuine = await runBackup({ source: pgUrl(source), target: join(dir, 'genuine'), format: 'plain' });
    script = gunzipSync(await fs.readFile(genuine.location)).toString('latin1');
  });

  /** Writes `text` as a backup beside a manifest forged to match it (size and SHA-256), or without one. */
  async function forge(text: string, withManifest = true): Promise<string> {
    const caseDir = join(dir, `forged-${++forgedCount}`);
    await fs.mkdir(caseDir);
    const file = join(caseDir, genuine.backup_file);
    const body = gzipSync(Buffer.from(text, 'latin1'));
    await fs.writeFile(file, body);
    if (withManifest) {
      const hash = createHash('sha256').update(body).digest('hex');
      const manifest = { ...genuine, hash, size_bytes: body.length, location: file };
      await fs.writeFile(`${file}.json`, JSON.stringify(manifest));
    }
    return file;
  }

  /** A destination holding data of its own, which a refused restore must leave exactly as it is. */
  async function destination(): Promise<string> {
    const db = await createDatabase('plain_dest');
    await sql(db, 'create table keep (a int); insert into keep values (42)');
    return db;
  }

  /** Inserts `lines` after pg_dump's SET lines, where a statement would run first. */
  const afterSets = (lines: string): string => script.replace('SET row_security = off;\n', `SET row_security = off;\n${lines}`);

  async function assertRefused(file: string, pattern: RegExp, options: { noManifest?: boolean } = {}): Promise<string> {
    const db = await destination();
    const args = ['restore', '--path', file, '--to', pgUrl(db), '--confirm', db];
    if (options.noManifest) args.push('--no-manifest');
    const before = await fs.readdir(join(file, '..'));
    const result = await cli(args);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, pattern);
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    assert.deepEqual(await sql(db, 'select a from keep'), [{ a: 42 }], 'the destination is as it was');
    assert.deepEqual(await fs.readdir(join(file, '..')), before, 'no safety backup was taken of a refused restore');
    const left = await sql('postgres', `select datname from pg_database where datname like $1`, [`${db}__dbbackup_%`]);
    assert.deepEqual(left, [], 'no half-made database is left');
    return result.stderr;
  }

  async function assertVerifyRefuses(file: string, pattern: RegExp): Promise<void> {
    const result = await cli(['verify', '--target', join(file, '..'), '--file', basename(file)]);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stdout + result.stderr, pattern);
  }

  test('a genuine plain backup restores as before, data that looks like psql commands included, and verifies', async () => {
    const db = await destination();
    const result = await cli(['restore', '--path', genuine.location, '--to', pgUrl(db), '--confirm', db]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      (await sql(db, 'select body from notes order by id')).map((r) => r.body),
      ['\\! touch /tmp/never', '\\connect postgres', '\\.', 'a\nb'],
    );
    assert.deepEqual(await sql(db, 'select add_one(1) as n'), [{ n: 2 }]);
    assert.deepEqual(await sql(db, "select srvname from pg_user_mappings where srvname = 'elsewhere'"), [
      { srvname: 'elsewhere' },
    ]);
    assert.deepEqual(await sql(db, "select rulename from pg_rules where rulename = 'other_twice'"), [
      { rulename: 'other_twice' },
    ]);
    const verified = await cli(['verify', '--target', join(dir, 'genuine'), '--file', genuine.backup_file]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  });

  test('the same script with CR LF line endings still restores (psql reads it the same)', async () => {
    const file = await forge(script.replace(/\n/g, '\r\n'));
    const db = await destination();
    const result = await cli(['restore', '--path', file, '--to', pgUrl(db), '--confirm', db]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await sql(db, 'select count(*)::int as n from notes'))[0]?.n, 4);
  });

  test('\\! (a shell command) is refused before psql starts, with a forged manifest or none; verify refuses it too', async () => {
    const marker = join(dir, `shell-${uniqueName('m')}`);
    const text = afterSets(`\\! touch ${marker}\n`);
    const withManifest = await forge(text);
    await assertRefused(withManifest, /psql command \(\\!\).*line \d+/);
    await assertRefused(await forge(text, false), /psql command \(\\!\)/, { noManifest: true });
    await assertVerifyRefuses(withManifest, /psql command \(\\!\)/);
    assert.equal(existsSync(marker), false, 'the shell command never ran');
  });

  test('\\connect to another database is refused, and nothing is written there', async () => {
    const table = uniqueName('pwned');
    const file = await forge(afterSets(`\\connect postgres\nCREATE TABLE public.${table} (a int);\n`));
    await assertRefused(file, /psql command \(\\connect\)/);
    const found = await sql('postgres', 'select 1 from pg_class where relname = $1', [table]);
    assert.deepEqual(found, []);
    // The short form too, and mid-line after a statement: psql obeys a backslash anywhere outside quotes.
    await assertRefused(await forge(afterSets(`SET lock_timeout = 0; \\c postgres\n`)), /psql command \(\\c\)/);
  });

  test('\\copy, \\o, \\set and \\gexec are refused; the file is never written', async () => {
    const out = join(dir, `copy-${uniqueName('f')}`);
    await assertRefused(await forge(afterSets(`\\copy (select 1) to '${out}'\n`)), /psql command \(\\copy\)/);
    await assertRefused(await forge(afterSets(`\\o ${out}\n`)), /psql command \(\\o\)/);
    await assertRefused(await forge(afterSets(`\\set ON_ERROR_STOP 0\n`)), /psql command \(\\set\)/);
    await assertRefused(await forge(afterSets(`SELECT 'select 1' \\gexec\n`)), /psql command \(\\gexec\)/);
    assert.equal(existsSync(out), false);
  });

  test('a command hidden after a COPY block, after the closing line, or with CR LF is refused', async () => {
    const marker = join(dir, `hidden-${uniqueName('m')}`);
    const afterCopy = script.replace(/\n\\\.\n/, `\n\\.\n\\! touch ${marker}\n`);
    assert.notEqual(afterCopy, script);
    await assertRefused(await forge(afterCopy), /psql command \(\\!\)/);
    await assertRefused(await forge(`${script}\\! touch ${marker}\n`), /goes on after pg_dump's closing line/);
    const crlf = afterSets(`\\! touch ${marker}\n`).replace(/\n/g, '\r\n');
    await assertRefused(await forge(crlf), /psql command \(\\!\)/);
    assert.equal(existsSync(marker), false);
  });

  test('a command psql would read where the script seems to hold COPY data or a string is refused', async () => {
    const marker = join(dir, `desync-${uniqueName('m')}`);
    // psql does not end a statement at a semicolon inside parentheses: the "COPY" is part of the SELECT, its "data" is script.
    const parens = afterSets(
      `SELECT pg_catalog.setval((1;\nCOPY public.other (id) FROM stdin;\n\\! touch ${marker}\n\\.\nSELECT pg_catalog.setval(1));\n`,
    );
    await assertRefused(await forge(parens), /psql command \(\\!\)/);
    // With standard_conforming_strings off, psql reads \' as a quote inside the string: the command is outside it.
    const quote = afterSets(`COMMENT ON TABLE public.notes IS 'x\\'; \\! touch ${marker}; --';\n`);
    await assertRefused(await forge(quote), /backslash before a quote/);
    // psql replaces :NAME by its variable and reads the value as script.
    await assertRefused(await forge(afterSets('SELECT :USER;\n')), /psql variable/);
    assert.equal(existsSync(marker), false);
  });

  test('statements pg_dump never writes are refused: COPY from a program, roles, other SELECTs', async () => {
    const marker = join(dir, `program-${uniqueName('m')}`);
    const said = await assertRefused(
      await forge(afterSets(`COPY public.other FROM PROGRAM 'touch ${marker}';\n`)),
      /a COPY that pg_dump never writes/,
    );
    // The message shows the statement without its strings (a user mapping's password would be one).
    assert.doesNotMatch(said, /touch/);
    const role = uniqueName('pwned');
    await assertRefused(await forge(afterSets(`CREATE ROLE ${role} SUPERUSER LOGIN;\n`)), /acts on the server/);
    await assertRefused(await forge(afterSets(`GRANT pg_write_server_files TO public;\n`)), /acts on the server/);
    await assertRefused(await forge(afterSets(`SELECT pg_catalog.pg_sleep(1);\n`)), /a statement pg_dump never writes/);
    await assertRefused(await forge(afterSets(`DO $$ begin perform 1; end $$;\n`)), /a statement pg_dump never writes/);
    assert.equal(existsSync(marker), false);
    assert.deepEqual(await sql('postgres', 'select 1 from pg_roles where rolname = $1', [role]), []);
  });

  test('a script that does not look like pg_dump output is refused before any statement runs', async () => {
    const table = uniqueName('plain');
    const handMade = `CREATE TABLE public.${table} (a int);\n--\n-- PostgreSQL database dump complete\n--\n`;
    await assertRefused(await forge(handMade), /not a pg_dump plain dump \(its header is missing\)/);
    const cut = script.slice(0, script.indexOf('-- PostgreSQL database dump complete'));
    await assertRefused(await forge(cut), /incomplete/);
    await assertVerifyRefuses(await forge(handMade), /not a pg_dump plain dump/);
  });

  test('psql itself refuses backslash commands too, should the check ever miss one (stand-in: a script run unchecked)', async () => {
    const marker = join(dir, `unchecked-${uniqueName('m')}`);
    const file = join(dir, 'unchecked.sql');
    // As a forged script would be: without pg_dump's own \restrict, so only the restore's can stop the \!.
    await fs.writeFile(file, `SELECT 1;\n\\! touch ${marker}\nSELECT 2;\n`);
    const db = await destination();
    const psql = join(process.env.DBBACKUP_TEST_PG_BIN_DIR ?? '', 'psql');
    const args = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', `--dbname=${pgUrl(db)}`];
    const result = await runRestrictedPsql(psql, args, file, [], {});
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /backslash commands are restricted/);
    assert.equal(existsSync(marker), false);
  });
});
