import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { before, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import type { Manifest } from '../../shared/manifest.js';
import { cli, createDatabase, pgUrl, sql, tempDir, uniqueName } from '../harness/test-env.js';

/**
 * Where psql's reading of a line differs from the check's, a statement the check never saw as one
 * reaches the server. `\restrict` stops only backslash commands, not SQL: a role created this way
 * outlives the restore's throwaway database (roles belong to the server) and the restore succeeds.
 */
describe('a plain script psql would read otherwise than the check is refused', () => {
  let dir: string;
  let genuine: Manifest;
  let script: string;
  let forgedCount = 0;

  before(async () => {
    dir = await tempDir('plain-lexing');
    const source = await createDatabase('plain_lex_src');
    await sql(source, 'create table other (id int); insert into other values (1);');
    genuine = await runBackup({ source: pgUrl(source), target: join(dir, 'genuine'), format: 'plain' });
    script = gunzipSync(await fs.readFile(genuine.location)).toString('latin1');
  });

  async function forge(text: string): Promise<string> {
    const caseDir = join(dir, `forged-${++forgedCount}`);
    await fs.mkdir(caseDir);
    const file = join(caseDir, genuine.backup_file);
    const body = gzipSync(Buffer.from(text, 'latin1'));
    await fs.writeFile(file, body);
    const hash = createHash('sha256').update(body).digest('hex');
    await fs.writeFile(`${file}.json`, JSON.stringify({ ...genuine, hash, size_bytes: body.length, location: file }));
    return file;
  }

  /** `lines` placed just before the closing line: after the tables exist, so the statements around them run. */
  const beforeEnd = (lines: string): string =>
    script.replace('--\n-- PostgreSQL database dump complete\n', `${lines}--\n-- PostgreSQL database dump complete\n`);

  async function assertRefusedAndNoRole(text: string, role: string, pattern: RegExp): Promise<void> {
    const file = await forge(text);
    const db = await createDatabase('plain_lex_dest');
    await sql(db, 'create table keep (a int); insert into keep values (42)');
    const result = await cli(['restore', '--path', file, '--to', pgUrl(db), '--confirm', db]);
    const roles = await sql('postgres', 'select rolname from pg_roles where rolname = $1', [role]);
    assert.deepEqual(roles, [], `no role ${role} was created on the server (restore exit ${result.code})`);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stderr, pattern);
    assert.deepEqual(await sql(db, 'select a from keep'), [{ a: 42 }], 'the destination is as it was');
    const verified = await cli(['verify', '--target', join(file, '..'), '--file', basename(file)]);
    assert.equal(verified.code, 3, verified.stdout + verified.stderr);
  }

  test('a CR inside a line ends a -- comment for psql: what follows it is a statement', async () => {
    const role = uniqueName('cr_role');
    await assertRefusedAndNoRole(beforeEnd(`-- note\rCREATE ROLE ${role} SUPERUSER LOGIN;\n`), role, /acts on the server/);
  });

  test('a NUL byte: psql drops the rest of its 1023-byte read, the check reads on', async () => {
    const role = uniqueName('nul_role');
    // psql sees `… IS 'x` and then, from byte 1023, `'; CREATE ROLE …; COMMENT … IS --'`, then `'z';`.
    const head = "COMMENT ON TABLE public.other IS 'x\0'";
    const line = `${head.padEnd(1023, ' ')}'; CREATE ROLE ${role} SUPERUSER LOGIN; COMMENT ON TABLE public.other IS --'\n'z';\n`;
    await assertRefusedAndNoRole(beforeEnd(line), role, /NUL/);
  });

  test('SET NAMES / SET LOCAL client_encoding to an encoding psql lexes otherwise are refused', async () => {
    const role = uniqueName('sjis_role');
    // In SJIS, 0x81 0x5C is one character: psql ends the E'' string at the quote after it, the check does not.
    const hidden = `COMMENT ON TABLE public.other IS E'\x81\\'; CREATE ROLE ${role} SUPERUSER LOGIN; --';\n`;
    await assertRefusedAndNoRole(beforeEnd(`SET NAMES 'SJIS';\n${hidden}SET NAMES 'UTF8';\n`), role, /client_encoding|encoding/);
    await assertRefusedAndNoRole(
      beforeEnd(`SET LOCAL client_encoding = 'SJIS';\n${hidden}SET client_encoding = 'UTF8';\n`),
      role,
      /client_encoding|encoding/,
    );
    // A SELECT holds only pg_dump's one call, nothing after it.
    await assertRefusedAndNoRole(
      beforeEnd(
        `SELECT pg_catalog.lo_close(0), pg_catalog.set_config('client_encoding', 'SJIS', false);\n${hidden}SET client_encoding = 'UTF8';\n`,
      ),
      role,
      /a statement pg_dump never writes/,
    );
    // Any statement can switch the encoding (a function calling set_config): the E'' string itself is refused.
    await assertRefusedAndNoRole(
      beforeEnd(
        `CREATE TABLE public.enc AS SELECT pg_catalog.set_config('client_encoding', 'SJIS', false) AS x;\n${hidden}SET client_encoding = 'UTF8';\n`,
      ),
      role,
      /backslash after a non-ASCII byte/,
    );
    await assertRefusedAndNoRole(
      beforeEnd(`SET client_encoding = 'MS-Kanji';\n${hidden}SET client_encoding = 'UTF8';\n`),
      role,
      /client_encoding|encoding/,
    );
  });

  test('a subscription that connects (or is enabled afterwards) is refused: pg_dump creates it with connect = false', async () => {
    const role = uniqueName('sub_role');
    const create = `CREATE SUBSCRIPTION s_${role} CONNECTION 'dbname=postgres' PUBLICATION p WITH (create_slot = false, slot_name = 'none_such');\n`;
    await assertRefusedAndNoRole(beforeEnd(create), role, /subscription that connects/);
    const enable = `CREATE SUBSCRIPTION s_${role} CONNECTION 'dbname=postgres' PUBLICATION p WITH (connect = false, slot_name = 'none_such');\nALTER SUBSCRIPTION s_${role} ENABLE;\n`;
    await assertRefusedAndNoRole(beforeEnd(enable), role, /alters a subscription/);
  });
});
