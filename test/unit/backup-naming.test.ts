import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildBackupKey, formatTimestamp, keyName } from '../../shared/backup/backup-key.js';
import { parseBackupOptions } from '../../shared/backup/backup-options.js';
import { resolveLevel } from '../../shared/compression/compression.js';
import { keySafeName } from '../../shared/engines/engine.js';
import { choosePgDump, majorOf, type PgTool } from '../../shared/engines/postgres/find-pg-tools.js';
import { ConfigError } from '../../shared/errors.js';
import { inferFromName } from '../../shared/engines/registry.js';
import { parseManifest } from '../../shared/manifest.js';

describe('backup keys', () => {
  const date = new Date('2026-03-04T05:06:07.890Z');

  test('follow <engine>/<db>/<YYYY>/backup_<db>_<YYYYMMDD_HHMMSS>.<ext>.<compression> in UTC', () => {
    assert.equal(formatTimestamp(date), '20260304_050607');
    assert.deepEqual(buildBackupKey({ engine: 'postgres', database: 'school', format: 'custom', compression: 'gzip', date }), {
      key: 'postgres/school/2026/backup_school_20260304_050607.dump.gz',
      fileName: 'backup_school_20260304_050607.dump.gz',
    });
    assert.equal(
      buildBackupKey({ engine: 'postgres', database: 'x', format: 'plain', compression: 'zstd', date }).fileName,
      'backup_x_20260304_050607.sql.zst',
    );
    assert.equal(
      buildBackupKey({ engine: 'sqlite', database: 'app', format: 'sqlite', compression: 'none', date }).fileName,
      'backup_app_20260304_050607.db',
    );
    assert.equal(
      buildBackupKey({ engine: 'sqlite', database: 'app', format: 'sqlite', compression: 'gzip', date, sequence: 2 }).fileName,
      'backup_app_20260304_050607_2.db.gz',
    );
  });

  test('database names are made safe for keys', () => {
    assert.equal(keySafeName('my db/ü'), 'my_db__');
    assert.equal(keySafeName('..'), '_');
    assert.equal(keySafeName(''), 'db');
  });
});

describe('database names in keys', () => {
  const date = new Date('2026-03-04T05:06:07.890Z');

  test('a name of safe characters is its own key name, as older versions wrote it', () => {
    for (const name of ['school', 'sales_eu', 'a.b-c', 'X9', 'x'.repeat(100)]) {
      assert.equal(keyName(name), name);
      assert.equal(keySafeName(name), name);
    }
  });

  test('other bytes are percent-encoded as UTF-8, so a key name reads back to its name', () => {
    assert.equal(keyName('sales eu'), 'sales%20eu');
    assert.equal(keyName('café'), 'caf%C3%A9');
    assert.equal(keyName('100%'), '100%25');
    assert.equal(keyName('..'), '%2E.');
    for (const name of ['a+b,c:d&e;f/g?h#i@j$k=l', 'sales eu', '日本語', 'it\'s "quoted"', '.env']) {
      assert.equal(decodeURIComponent(keyName(name)), name);
    }
  });

  test('distinct names never share a key name; key names are safe path segments of at most 200 characters', () => {
    const names = [
      'sales eu',
      'sales_eu',
      'sales%20eu',
      'sales%eu',
      'café',
      'cafè',
      'cafe\u0301',
      'caf_',
      '.',
      '..',
      '_',
      '.hidden',
      '%2Ehidden',
      'a/b',
      'a%2Fb',
      'A',
      'a',
      'x'.repeat(200),
      'x'.repeat(201),
      `${'x'.repeat(300)}a`,
      `${'x'.repeat(300)}b`,
      'é'.repeat(66),
      'é'.repeat(67),
      `${'é'.repeat(100)}~`,
      ...Array.from({ length: 0x7f - 0x20 }, (_, i) => `n${String.fromCharCode(0x20 + i)}`),
    ];
    const keys = names.map(keyName);
    assert.equal(new Set(keys).size, names.length);
    for (const key of keys) {
      assert.match(key, /^[A-Za-z0-9_%~-][A-Za-z0-9._%~-]*$/);
      assert.ok(key.length <= 200, `${key.length} characters`);
    }
  });

  test("a run id makes every run's key its own", () => {
    const input = { engine: 'postgres', database: 'school', format: 'custom', compression: 'gzip', date } as const;
    assert.deepEqual(buildBackupKey({ ...input, run: '0a1b2c3d' }), {
      key: 'postgres/school/2026/backup_school_20260304_050607_0a1b2c3d.dump.gz',
      fileName: 'backup_school_20260304_050607_0a1b2c3d.dump.gz',
    });
    assert.equal(
      buildBackupKey({ ...input, database: 'sales eu', run: '0a1b2c3d', sequence: 1 }).key,
      'postgres/sales%20eu/2026/backup_sales%20eu_20260304_050607_0a1b2c3d_1.dump.gz',
    );
  });
});

describe('options', () => {
  test('errors name the field and the value', () => {
    assert.throws(
      () => parseBackupOptions({ source: 'a.db', target: 'b', compression: 'lz4' }),
      (e: unknown) => e instanceof ConfigError && /^compression: .* \(got "lz4"\)$/.test(e.message),
    );
    const message = (input: unknown) => {
      try {
        parseBackupOptions(input);
      } catch (error) {
        return (error as Error).message;
      }
      return 'no error';
    };
    assert.match(message({ source: 'a.db', target: 'b', name: 'no spaces' }), /^name: may hold only .* \(got "no spaces"\)$/);
    assert.match(message({ target: 'b' }), /^source: .*\(got nothing\)$/);
  });

  test('compression levels have ranges and defaults', () => {
    assert.equal(resolveLevel('gzip', undefined), 5);
    assert.equal(resolveLevel('zstd', undefined), 2);
    assert.equal(resolveLevel('zstd', 19), 19);
    assert.equal(resolveLevel('none', undefined), undefined);
    assert.throws(() => resolveLevel('gzip', 0), /gzip level must be 1-9 \(got 0\)/);
    assert.throws(() => resolveLevel('none', 3), /does not apply/);
  });
});

describe('choosing pg_dump', () => {
  const tool = (major: number, preferred = false): PgTool => ({
    path: `/pg${major}/pg_dump`,
    major,
    version: `pg_dump (PostgreSQL) ${major}.1`,
    preferred,
  });

  // Was "the newest one that is at least the server major" (17 for a 16 server, 15 for a 13
  // server): issue 10 item 10, a newer pg_dump writes what the server's own pg_restore cannot read.
  test("the server's own major when it is here, else the oldest newer one", () => {
    assert.equal(choosePgDump([tool(17), tool(16), tool(14)], 16, '16.2').major, 16);
    assert.equal(choosePgDump([tool(15), tool(13)], 13, '13.9').major, 13);
    assert.equal(choosePgDump([tool(18), tool(17), tool(15)], 14, '14.3').major, 15);
  });

  test('DBBACKUP_PG_BIN_DIR wins when it fits (it is sorted first)', () => {
    assert.equal(choosePgDump([tool(16, true), tool(17)], 15, '15.1').path, '/pg16/pg_dump');
  });

  test('none fits: the error names the server version, the clients found and the fix', () => {
    assert.throws(
      () => choosePgDump([tool(15), tool(14)], 17, '17.2'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /server 17\.2/.test(e.message) &&
        /found 15 \(\/pg15\/pg_dump\), 14/.test(e.message) &&
        /postgresql-client-17/.test(e.hint ?? '') &&
        /DBBACKUP_PG_BIN_DIR/.test(e.hint ?? ''),
    );
  });
});

describe('manifests', () => {
  const valid = {
    backup_file: 'backup_a_20260101_000000.db.gz',
    timestamp: '20260101_000000',
    datetime: '2026-01-01T00:00:00.000Z',
    database: 'a',
    size_bytes: 10,
    hash: 'a'.repeat(64),
    status: 'completed',
    manifest_version: 1,
    key: 'sqlite/a/2026/backup_a_20260101_000000.db.gz',
    location: '/x/sqlite/a/2026/backup_a_20260101_000000.db.gz',
    engine: 'sqlite',
    format: 'sqlite',
    compression: 'gzip',
    compression_level: 6,
    hash_algorithm: 'sha256',
    source_size_bytes: 20,
    database_size_bytes: 20,
    duration_ms: 5,
    storage_class: null,
    sse: 'none',
    kms_key_id: null,
    engine_version: { sqlite: '3.45.0' },
    tool_version: '0.1.0',
    source: 'sqlite:///x/a.db',
    kind: 'manual',
    label: null,
    tables: { t: 1 },
    tables_estimated: [],
  };

  test('a complete manifest parses; a broken or partial one is reported with the field', () => {
    assert.ok('manifest' in parseManifest(JSON.stringify(valid)));
    const truncated = parseManifest('{"backup_file": ');
    assert.ok('error' in truncated && truncated.error.startsWith('not JSON'));
    const badHash = parseManifest(JSON.stringify({ ...valid, hash: 'xyz' }));
    assert.ok('error' in badHash && badHash.error.startsWith('hash:'));
    const notCompleted = parseManifest(JSON.stringify({ ...valid, status: 'running' }));
    assert.ok('error' in notCompleted && notCompleted.error.startsWith('status:'));
  });

  test('a manifest pairing an engine with a format it does not write, or naming an unknown engine, is refused', () => {
    const crossed = parseManifest(JSON.stringify({ ...valid, engine: 'postgres', format: 'sqlite' }));
    assert.ok('error' in crossed && crossed.error.startsWith('format:'), JSON.stringify(crossed));
    const unknown = parseManifest(JSON.stringify({ ...valid, engine: 'mysql' }));
    assert.ok('error' in unknown && unknown.error.startsWith('engine:'), JSON.stringify(unknown));
  });
});

describe('backups restored without a manifest', () => {
  test('the file name tells format and compression, whatever the case of its extensions', () => {
    assert.deepEqual(inferFromName('backup_a_1.DB.GZ'), { format: 'sqlite', compression: 'gzip' });
    assert.deepEqual(inferFromName('x.sqlite3'), { format: 'sqlite', compression: 'none' });
    assert.deepEqual(inferFromName('x.Dump.Zst'), { format: 'custom', compression: 'zstd' });
    assert.deepEqual(inferFromName('x.sql.gz'), { format: 'plain', compression: 'gzip' });
  });

  test('an unknown name is refused with every extension that would do', () => {
    assert.throws(
      () => inferFromName('x.tar.gz'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /expected a name ending in \.dump, \.sql, \.db, \.sqlite or \.sqlite3, optionally followed by \.gz or \.zst/.test(
          e.hint ?? '',
        ),
    );
  });

  test('pg_restore is chosen by the major of the pg_dump that wrote the archive, written as pg_dump prints it or bare', () => {
    assert.equal(majorOf('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'), 15);
    assert.equal(majorOf('99.1'), 99);
    assert.equal(majorOf('unknown'), undefined);
  });
});
