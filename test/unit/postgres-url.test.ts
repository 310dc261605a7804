import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePostgresUrl } from '../../shared/engines/postgres/postgres-connection.js';
import { ConfigError } from '../../shared/errors.js';

const env = { HOME: '/nonexistent' };

describe('PostgreSQL URLs are read as libpq reads them', () => {
  test('a percent-encoded database name is decoded whole, and written back so that libpq decodes it alike', () => {
    const name = 'a+b,c:d&e;f/g?h#i@j$k=l% m';
    const conn = parsePostgresUrl(`postgres://app:pw@db:5432/${encodeURIComponent(name)}`, env);
    assert.equal(conn.database, name);
    assert.equal(conn.url, `postgres://app@db:5432/${encodeURIComponent(name)}`);
  });

  test('from PGDATABASE or ?dbname=, a name is taken as it is: a "+" in the query is a "+", not a space', () => {
    assert.equal(parsePostgresUrl('postgres://app@db', { ...env, PGDATABASE: 'a+b?c' }).database, 'a+b?c');
    assert.equal(parsePostgresUrl('postgres://app@db/?dbname=a+b%20c', env).database, 'a+b c');
  });

  test('query parameters reach libpq as they were meant: a space as %20, never "+"', () => {
    const conn = parsePostgresUrl('postgres://app@db/shop?options=-c%20search_path%3Dx&application_name=a+b', env);
    assert.match(conn.url, /\?options=-c%20search_path%3Dx&application_name=a%2Bb$/);
  });

  test('a bare "#" and a malformed percent-encoding are refused, naming the part but never the password', () => {
    assert.throws(
      () => parsePostgresUrl('postgres://app:secret@db/sales#eu', env),
      (e: unknown) => e instanceof ConfigError && /holds a "#"/.test(e.message) && /%23/.test(e.hint ?? ''),
    );
    for (const [url, part] of [
      ['postgres://app:secret@db/sales%zz', 'database name'],
      ['postgres://app:se%zzcret@db/sales', 'password'],
      ['postgres://app:secret@db/sales?options=%zz', 'parameter options'],
    ] as const) {
      assert.throws(
        () => parsePostgresUrl(url, env),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.message === `invalid percent-encoding in the PostgreSQL URL's ${part}` &&
          !`${e.message} ${e.hint}`.includes('secret') &&
          !`${e.message} ${e.hint}`.includes('se%zzcret'),
      );
    }
  });
});
