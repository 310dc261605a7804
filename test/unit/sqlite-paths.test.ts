import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { databaseFileUrl, locateDatabase } from '../../shared/engines/registry.js';
import { SqliteDestination } from '../../shared/engines/sqlite/sqlite-destination.js';
import { SqliteEngine } from '../../shared/engines/sqlite/sqlite-engine.js';
import { sqlitePath } from '../../shared/engines/sqlite/sqlite-path.js';
import { ConfigError } from '../../shared/errors.js';
import { readSettings } from '../../shared/settings.js';

/** Directory names a real user has, each of which a URL reads differently from a path unless encoded. */
const NAMES = [
  'pct%41dir',
  '%',
  '%2F',
  '%25',
  'hash#dir',
  'q?dir',
  'sp ace',
  ' leading and trailing ',
  'tab\tand\nnewline',
  'back\\slash',
  'ünïcödé – 数据',
  'semi;colon&amp=eq+plus',
];

describe('SQLite paths through URLs', () => {
  test('the pre-restore backup reads exactly the file the restore writes, whatever its path holds', async () => {
    for (const name of NAMES) {
      const path = `/srv/${name}/app.db`;
      const destination = new SqliteDestination(path);
      const url = destination.sourceUrl;
      assert.equal(sqlitePath(url), path, `${JSON.stringify(name)} via ${url}`);
      // The safety backup goes through the registry as any source does.
      const source = await locateDatabase(url, 'source').openSource(url, { settings: readSettings({}) });
      assert.ok(source instanceof SqliteEngine);
      assert.equal(source.path, path, `${JSON.stringify(name)} via ${url}`);
      const reopened = await locateDatabase(url, 'destination').openDestination(url, readSettings({}));
      assert.equal((reopened as SqliteDestination).path, path);
      // The deployed functions and the demo build their URLs the same way.
      assert.equal(sqlitePath(databaseFileUrl('sqlite', path)), path);
    }
  });

  test('a plain path is taken as it is written: %41 stays %41', () => {
    assert.equal(sqlitePath('/srv/pct%41dir/app.db'), '/srv/pct%41dir/app.db');
    assert.equal(sqlitePath('/srv/hash#dir/q?dir/app.db'), '/srv/hash#dir/q?dir/app.db');
  });

  test('a SQLite URL is percent-decoded; an encoded #, ? and % name those characters', () => {
    assert.equal(sqlitePath('sqlite:///srv/pct%2541dir/app.db'), '/srv/pct%41dir/app.db');
    assert.equal(sqlitePath('sqlite:///srv/a%23b/c%3Fd/app.db'), '/srv/a#b/c?d/app.db');
    assert.equal(sqlitePath('sqlite:data/a%23b.db'), 'data/a#b.db');
  });

  test('a raw # or ? in a SQLite URL is refused, not cut off: one line saying how to write it', () => {
    for (const url of ['sqlite:///srv/hash#dir/app.db', 'sqlite:///srv/app.db?mode=ro', 'sqlite:data/a#b.db', 'sqlite:a?.db']) {
      assert.throws(
        () => sqlitePath(url),
        (e: unknown) => e instanceof ConfigError && /%23|%3F/.test(`${e.message} ${e.hint}`) && /plain path/.test(e.hint ?? ''),
        url,
      );
    }
  });

  test('a malformed escape in a SQLite URL is a configuration error, not a crash', () => {
    for (const url of ['sqlite:data/100%.db', 'sqlite:///srv/%zz/app.db']) {
      assert.throws(() => sqlitePath(url), ConfigError, url);
    }
  });
});
