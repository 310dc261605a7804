import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { checkedScript } from '../../shared/engines/postgres/plain-script-check.js';
import { IntegrityError } from '../../shared/errors.js';

const HEAD = '--\n-- PostgreSQL database dump\n--\n\n';
const TAIL = '\n--\n-- PostgreSQL database dump complete\n--\n\n';

/** What psql would be given of `script`, fed in `chunkSize`-byte pieces, and how the stream ended. */
async function passedOn(script: string, chunkSize: number): Promise<{ passed: string; error?: unknown }> {
  const bytes = Buffer.from(script);
  const pieces = [];
  for (let i = 0; i < bytes.length; i += chunkSize) pieces.push(bytes.subarray(i, i + chunkSize));
  let passed = '';
  // Records what is written on, as psql's stdin would receive it.
  const psql = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      passed += chunk.toString();
      callback();
    },
  });
  try {
    await pipeline(Readable.from(pieces), checkedScript(), psql);
    return { passed };
  } catch (error) {
    return { passed, error };
  }
}

for (const chunkSize of [1, 7, 1 << 16]) {
  test(`streaming into psql (chunks of ${chunkSize}): pg_dump's script passes whole, without its \\restrict lines`, async () => {
    const body =
      '\\restrict abc123\nSET statement_timeout = 0;\nCREATE TABLE public.t (\n    a integer\n);\nCOPY public.t (a) FROM stdin;\n1\n\\.\n';
    const { passed, error } = await passedOn(`${HEAD}${body}${TAIL}\\unrestrict abc123\n`, chunkSize);
    assert.equal(error, undefined);
    assert.equal(passed, `${HEAD}${body.replace('\\restrict abc123\n', '')}${TAIL}`);
  });

  test(`streaming into psql (chunks of ${chunkSize}): a refused statement never reaches psql, nor its completing line`, async () => {
    const good = 'CREATE TABLE public.t (a integer);\n';
    for (const bad of ['ALTER SYSTEM\n    SET work_mem = 1;\n', '\\! touch /tmp/owned\n', "COPY public.t FROM PROGRAM 'id';\n"]) {
      const { passed, error } = await passedOn(`${HEAD}${good}${bad}${good}${TAIL}`, chunkSize);
      assert.ok(error instanceof IntegrityError, `${bad}: ${String(error)}`);
      // Only a start of what comes before the line that completes it, never that line: psql runs nothing of it.
      const allowed = `${HEAD}${good}${bad
        .split('\n')
        .slice(0, -2)
        .map((l) => `${l}\n`)
        .join('')}`;
      assert.ok(allowed.startsWith(passed), `${JSON.stringify(bad)} passed ${JSON.stringify(passed)}`);
    }
  });
}

test('streaming into psql: a script cut short fails at its end, before psql is told it is complete', async () => {
  const { error } = await passedOn(`${HEAD}CREATE TABLE public.t (a integer);\n`, 5);
  assert.ok(error instanceof IntegrityError && /incomplete/.test(error.message), String(error));
});
