import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sqlitePath } from '../../shared/engines/sqlite/sqlite-path.js';
import { locateDatabase } from '../../shared/engines/registry.js';
import { PostgresEngine } from '../../shared/engines/postgres/postgres-engine.js';
import { libpqEnvironment, parsePostgresUrl } from '../../shared/engines/postgres/postgres-connection.js';
import { SqliteEngine } from '../../shared/engines/sqlite/sqlite-engine.js';
import { cliWording } from '../../cli/action.js';
import { ConfigError, formatErrorLine } from '../../shared/errors.js';
import { redactLocation, redactText } from '../../shared/redact.js';
import { readSettings } from '../../shared/settings.js';
import { FileTarget } from '../../shared/targets/file-target.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { parseS3Url, partSizeFor, S3Target } from '../../shared/targets/s3-target.js';

/** Opens a backup's source as runBackup does: the engine the URL names, then its source. */
async function openEngine(url: string, settings = readSettings({})) {
  return locateDatabase(url, 'source').openSource(url, { settings });
}

describe('source URLs', () => {
  test('postgres:// and postgresql:// pick PostgreSQL; the password stays out of the shown URL', async () => {
    for (const url of [
      'postgres://app:s3cr%40t@db.example.com:6543/school',
      'postgresql://app:s3cr%40t@db.example.com:6543/school',
    ]) {
      const engine = await openEngine(url);
      assert.ok(engine instanceof PostgresEngine);
      assert.equal(parsePostgresUrl(url, {}).url, `${url.split(':')[0]}://app@db.example.com:6543/school`);
    }
    const conn = parsePostgresUrl('postgres://app:s3cr%40t@db.example.com:6543/school?sslmode=require', {});
    assert.equal(conn.password, 's3cr@t');
    assert.equal(conn.database, 'school');
    assert.equal(conn.port, 6543);
    assert.ok(!conn.url.includes('s3cr'));
    assert.match(conn.url, /sslmode=require/);
    assert.equal(libpqEnvironment(conn, {}).PGPASSWORD, 's3cr@t');
  });

  test('what the URL leaves out comes from the standard PG* variables', () => {
    const conn = parsePostgresUrl('postgres://', {
      PGHOST: 'pg.internal',
      PGPORT: '5433',
      PGUSER: 'backup',
      PGDATABASE: 'erp',
      PGPASSWORD: 'pw-from-env',
    });
    assert.deepEqual(
      { host: conn.host, port: conn.port, user: conn.user, database: conn.database, password: conn.password },
      { host: 'pg.internal', port: 5433, user: 'backup', database: 'erp', password: 'pw-from-env' },
    );
    assert.equal(conn.url, 'postgres://backup@pg.internal:5433/erp');
  });

  test('a bad port is a configuration error naming it', () => {
    assert.throws(
      () => parsePostgresUrl('postgres://u@h:99999/db', {}),
      /invalid PostgreSQL port "99999"|Invalid URL|invalid PostgreSQL URL/,
    );
  });

  test('sqlite URLs and plain paths pick SQLite', async () => {
    assert.equal(sqlitePath('sqlite:///var/lib/app/db.sqlite3'), '/var/lib/app/db.sqlite3');
    assert.equal(sqlitePath('sqlite:data/app.db'), 'data/app.db');
    assert.equal(sqlitePath('sqlite://localhost/var/app.db'), '/var/app.db');
    for (const source of ['sqlite:///x/app.db', 'app.db', './data/app.sqlite', '/abs/app.SQLITE3']) {
      assert.ok((await openEngine(source)) instanceof SqliteEngine, source);
    }
  });

  test('unknown schemes and unrecognisable paths are configuration errors naming what works', async () => {
    await assert.rejects(
      () => openEngine('mysql://root:pw@h/db'),
      (e: unknown) => e instanceof ConfigError && /"mysql"/.test(e.message) && !e.message.includes(':pw@'),
    );
    await assert.rejects(
      () => openEngine('app.txt'),
      (e: unknown) => e instanceof ConfigError && /cannot tell the database engine/.test(e.message),
    );
    await assert.rejects(() => openEngine('sqlite:'), ConfigError);
  });
});

describe('target URLs', () => {
  test('s3:// picks S3 with bucket and prefix; file:// and plain paths pick a directory', async () => {
    const s3 = await openTarget('s3://my-backups/prod/db/', { settings: readSettings({ AWS_REGION: 'eu-west-1' }) });
    assert.ok(s3 instanceof S3Target);
    assert.equal(s3.url, 's3://my-backups/prod/db');
    assert.equal(s3.objectKey('postgres/x/2026/b.dump.gz'), 'prod/db/postgres/x/2026/b.dump.gz');
    assert.deepEqual(parseS3Url('s3://bucket'), { bucket: 'bucket', prefix: '' });
    assert.ok((await openTarget('file:///tmp/backups')) instanceof FileTarget);
    assert.equal(((await openTarget('./backups')) as FileTarget).root, `${process.cwd()}/backups`);
  });

  test('bad bucket names and unknown schemes are configuration errors', async () => {
    await assert.rejects(() => openTarget('s3://Bad_Bucket/x'), /invalid S3 bucket name "Bad_Bucket"/);
    await assert.rejects(() => openTarget('gs://bucket/x'), /unsupported target URL scheme "gs"/);
    await assert.rejects(
      () => openTarget('s3://bucket/x', { kmsKeyId: 'k' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /--kms-key-id needs --sse aws:kms/.test(formatErrorLine(error, cliWording)) &&
        /^kmsKeyId needs sse "aws:kms"$/.test(error.message),
    );
  });

  test('part sizes keep every expected size under 10,000 parts and memory flat for ordinary sizes', () => {
    assert.equal(partSizeFor(undefined), 8 << 20);
    assert.equal(partSizeFor(1e9), 8 << 20);
    assert.equal(partSizeFor(4e9), 8 << 20);
    for (const size of [1e9, 1e11, 1e12, 5e12]) {
      // The dump may be 3x the database size (bytea as hex); it must still fit.
      assert.ok((size * 3) / partSizeFor(size) <= 10_000, `${size}`);
    }
  });
});

describe('redaction', () => {
  test('passwords in URLs and known secrets are replaced', () => {
    assert.equal(redactLocation('postgres://u:hunter2@h/db'), 'postgres://u:***@h/db');
    assert.equal(redactLocation('postgres://u@h/db'), 'postgres://u@h/db');
    assert.equal(
      redactText('failed for postgres://u:hunter2@h/db with hunter2', ['hunter2']),
      'failed for postgres://u:***@h/db with ***',
    );
  });
});
