import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { withoutTransactionTimeout } from '../../shared/engines/postgres/without-transaction-timeout.js';

/** What pg_dump 17 and pg_restore 17 write first (pg_backup_archiver.c, _doSetFixedOutputState). */
const PREAMBLE =
  '--\n-- PostgreSQL database dump\n--\n\n\\restrict abc123\n\n-- Dumped from database version 16.4\n\n' +
  'SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET idle_in_transaction_session_timeout = 0;\n' +
  "SET transaction_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\n" +
  "SELECT pg_catalog.set_config('search_path', '', false);\nSET check_function_bodies = false;\n" +
  'SET xmloption = content;\nSET client_min_messages = warning;\nSET row_security = off;\n\n';

/** The script as psql would get it, fed in `chunkSize`-byte pieces, and whether a line was dropped. */
async function filtered(script: string, chunkSize: number): Promise<{ passed: string; dropped: boolean }> {
  const bytes = Buffer.from(script);
  const pieces = [];
  for (let i = 0; i < bytes.length; i += chunkSize) pieces.push(bytes.subarray(i, i + chunkSize));
  let passed = '';
  const psql = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      passed += chunk.toString();
      callback();
    },
  });
  const filter = withoutTransactionTimeout();
  await pipeline(Readable.from(pieces), filter, psql);
  return { passed, dropped: filter.dropped };
}

for (const chunkSize of [1, 5, 29, 1 << 16]) {
  test(`only the preamble's SET transaction_timeout is left out, however the script is split (chunks of ${chunkSize})`, async () => {
    const body = 'CREATE TABLE public.t (\n    a integer\n);\n';
    const { passed, dropped } = await filtered(`${PREAMBLE}${body}`, chunkSize);
    assert.equal(dropped, true);
    assert.equal(passed, `${PREAMBLE.replace('SET transaction_timeout = 0;\n', '')}${body}`);
  });

  test(`a same-looking line in a COPY block, a string or a dollar-quoted body stays (chunks of ${chunkSize})`, async () => {
    const body =
      'CREATE FUNCTION public.f() RETURNS void\n    LANGUAGE plpgsql\n    AS $_$\nBEGIN\n' +
      'SET transaction_timeout = 0;\nEND;\n$_$;\n' +
      "COMMENT ON TABLE public.t IS '\nSET transaction_timeout = 0;\n';\n" +
      'COPY public.t (a) FROM stdin;\nSET transaction_timeout = 0;\n\\.\n\n' +
      'SET transaction_timeout = 0;\n';
    const { passed } = await filtered(`${PREAMBLE}${body}`, chunkSize);
    assert.equal(passed, `${PREAMBLE.replace('SET transaction_timeout = 0;\n', '')}${body}`);
  });
}

test('a script without the SET (pg_dump before 17) passes byte for byte, and nothing is said to be dropped', async () => {
  const script = `${PREAMBLE.replace('SET transaction_timeout = 0;\n', '')}CREATE TABLE public.t (a integer);\n`;
  const { passed, dropped } = await filtered(script, 7);
  assert.equal(passed, script);
  assert.equal(dropped, false);
});

test('only that statement: another value of the setting, or other spacing, is not the preamble line and stays', async () => {
  for (const line of ["SET transaction_timeout = '5s';", 'SET transaction_timeout TO 0;', 'set transaction_timeout = 0;']) {
    const script = PREAMBLE.replace('SET transaction_timeout = 0;', line);
    const { passed, dropped } = await filtered(script, 3);
    assert.equal(passed, script);
    assert.equal(dropped, false);
  }
});
