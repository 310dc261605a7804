import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { loggableRestoreEvent } from '../../shared/deployment/run-function-restore.js';
import { unreportedFailure } from '../../shared/deployment/unreported-failure.js';
import { isSecretParameter } from '../../shared/engines/registry.js';
import { parsePostgresUrl } from '../../shared/engines/postgres/postgres-connection.js';
import { ConfigError } from '../../shared/errors.js';
import { parseOrConfigError } from '../../shared/parse-or-config-error.js';
import { locationSecrets, parseLocation, redactLocation, redactText } from '../../shared/redact.js';

/** Every character that breaks a pattern-based redactor, alone and together, between pieces that must never show. */
const SPECIALS = ['@', ':', '/', ' ', '%', '?', '#', '&', '=', '"', '\\', "'", '+', 'ü', '€', '🔑', '@/', ':@ '];
const passwords = [...SPECIALS.map((c) => `Pa1${c}Pb2`), `Pa1${SPECIALS.join('')}Pb2`, '12/Pc3', 'Pd4@Pe5/Pf6'];

function assertHidden(text: string, password: string, context: string): void {
  for (const piece of password.split(/[^A-Za-z0-9]+/).filter((p) => p.length >= 3)) {
    assert.ok(!text.includes(piece), `${context}: "${piece}" of ${JSON.stringify(password)} shows in ${text}`);
  }
}

describe('redaction by structure', () => {
  test('a percent-encoded password is found whole and decoded, and never shown, in URLs of any engine', () => {
    for (const password of passwords) {
      for (const scheme of ['postgres', 'postgresql', 'mysql', 'ftp']) {
        const url = `${scheme}://app:${encodeURIComponent(password)}@db.internal:5432/school?sslmode=require`;
        const { shown, secrets, url: parsed } = parseLocation(url, isSecretParameter);
        assert.equal(shown, `${scheme}://app:***@db.internal:5432/school?sslmode=require`);
        assert.ok(parsed, `${url} parses`);
        assert.ok(secrets.includes(password), `${url}: ${JSON.stringify(secrets)}`);
        assert.ok(secrets.includes(encodeURIComponent(password)));
      }
    }
  });

  test('a password typed without percent-encoding shows in no part, whatever it cuts the URL into', () => {
    for (const password of passwords) {
      for (const url of [
        `postgres://app:${password}@db.internal:5432/school`,
        `postgres://app:${password}@db.internal/school?sslmode=require`,
        `postgres://app:${password}@db.internal:5x/school`,
        `mysql://root:${password}@h`,
      ]) {
        const { shown, secrets } = parseLocation(url, isSecretParameter);
        assertHidden(shown, password, url);
        // What the structure finds also cleans any text that quotes the URL.
        assertHidden(redactText(`failed for ${url}: bad`, secrets), password, `text quoting ${url}`);
      }
    }
  });

  test('where a raw / ? or # cut the password short, an @ after the host gives it away: the URL is not taken as parsed', () => {
    assert.equal(parseLocation('postgres://app:12/ab@db/school').url, undefined);
    assert.equal(parseLocation('postgres://app:x@y/z@db/school').url, undefined);
    assert.equal(redactLocation('postgres://app:12/ab@db/school'), 'postgres://***@db/school');
    // An @ in a path, without a ":" before it, is only a path.
    assert.equal(redactLocation('s3://bucket/backups@2026/x'), 's3://bucket/backups@2026/x');
    assert.ok(parseLocation('s3://bucket/backups@2026/x').url);
  });

  test('secret parameters of the query are hidden by name, the others shown as written', () => {
    for (const password of passwords) {
      const value = encodeURIComponent(password);
      for (const name of ['password', 'sslpassword', 'scram_client_key', 'scram_server_key', 'oauth_client_secret', 'PASSWORD']) {
        const url = `postgres://app@db/school?application_name=nightly%20run&${name}=${value}&sslmode=require`;
        assert.equal(
          redactLocation(url, isSecretParameter),
          `postgres://app@db/school?application_name=nightly%20run&${name}=***&sslmode=require`,
        );
        assert.ok(locationSecrets(url, isSecretParameter).includes(password));
      }
    }
    // With no engine to say which parameters are safe, none is shown.
    assert.equal(redactLocation('redis://h/p?a=1&b=2'), 'redis://h/p?a=***&b=***');
  });

  test('a libpq key=value string shows its secret values as ***, quoted or not', () => {
    for (const password of passwords) {
      const quoted = `'${password.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      const conninfo = `host=db.internal port = 5432 password=${quoted} dbname=school`;
      assert.equal(redactLocation(conninfo, isSecretParameter), 'host=db.internal port=5432 password=*** dbname=school');
      assert.ok(locationSecrets(conninfo, isSecretParameter).includes(password), conninfo);
    }
    assert.equal(redactLocation("host=db password='not closed", isSecretParameter), 'host=db password=***');
    assert.equal(redactLocation('host=db password=x oops', isSecretParameter), 'host=db password=*** ***');
  });

  test('paths, Windows paths and SQLite URLs hold nothing secret and are shown as they are', () => {
    for (const path of [
      'app.db',
      './data/app.sqlite',
      '/var/lib/app.db',
      'C:\\data\\app.db',
      'D:/x.db',
      'sqlite:///var/a b.db',
    ]) {
      assert.deepEqual(parseLocation(path, isSecretParameter).secrets, []);
      assert.equal(redactLocation(path, isSecretParameter), path);
    }
  });

  test('text is cleaned of a secret in every form it can be quoted in: as is, percent-encoded, JSON-escaped', () => {
    const secret = 'Pa1"\\ /@Pb2ü';
    for (const form of [
      secret,
      encodeURIComponent(secret),
      JSON.stringify(secret).slice(1, -1),
      JSON.stringify(encodeURIComponent(secret)).slice(1, -1),
    ]) {
      assert.equal(redactText(`<${form}>`, [secret]), '<***>', form);
    }
    assert.equal(redactText('a log line', ['', undefined, 'a']), 'a log line', 'a secret too short to look for changes nothing');
  });
});

describe('every output redacts by structure', () => {
  test('a password may be given as ?password= (libpq decodes only percent-escapes, so a "+" stays one); it never shows in the URL passed on', () => {
    const conn = parsePostgresUrl('postgres://app@db/school?password=a%2Fb+c%40d&application_name=x', {});
    assert.equal(conn.password, 'a/b+c@d');
    assert.equal(conn.url, 'postgres://app@db:5432/school?application_name=x');
    assert.equal(parsePostgresUrl('postgres://app:one@db/school?password=two', {}).password, 'two');
  });

  test('a secret libpq takes only on the command line is refused by name; a malformed escape names the part, not its value', () => {
    for (const name of ['scram_client_key', 'scram_server_key', 'oauth_client_secret', 'sslpassword']) {
      assert.throws(
        () => parsePostgresUrl(`postgres://app@db/school?${name}=Pa1Pb2`, {}),
        (e: unknown) =>
          e instanceof ConfigError && e.message.startsWith(`${name} is not supported`) && !e.message.includes('Pa1'),
      );
    }
    assert.throws(
      () => parsePostgresUrl('postgres://app:Pa1%Pb2@db/school', {}),
      (e: unknown) =>
        e instanceof ConfigError &&
        /^invalid percent-encoding in the PostgreSQL URL's password/.test(e.message) &&
        !e.message.includes('Pa1'),
    );
  });

  test('a refused option or event shows a URL value redacted, and neither an object nor a key that does not belong', () => {
    const schema = z
      .object({ path: z.string().regex(/^s3:\/\//, 'must be an s3:// URI'), nested: z.object({ n: z.number() }).optional() })
      .strict();
    const message = (input: unknown) => {
      try {
        parseOrConfigError(schema, input);
      } catch (error) {
        return (error as Error).message;
      }
      return assert.fail('refused');
    };
    assert.equal(
      message({ path: 'postgres://app:Pa1%40Pb2@db/x' }),
      'path: must be an s3:// URI (got "postgres://app:***@db/x")',
    );
    assert.equal(message({ path: 's3://b', password: 'Pa1Pb2' }), 'options: Unrecognized key: "password"');
    assert.equal(
      message({ path: 's3://b', nested: { n: 'Pa1Pb2' } }),
      'nested.n: Invalid input: expected number, received string (got "Pa1Pb2")',
    );
    assert.equal(
      message({ path: { password: 'Pa1Pb2' } }),
      'path: Invalid input: expected string, received object (got an object)',
    );
  });

  test("the restore function's log shows its event with the destination's password redacted and unknown fields hidden", () => {
    assert.deepEqual(
      loggableRestoreEvent({
        database: 'school',
        latest: true,
        to: 'postgres://app:Pa1%40Pb2@db/school?sslmode=require',
        confirm: 'school',
        password: 'Pa1Pb2',
        path: { nested: 'Pa1Pb2' },
      }),
      {
        database: 'school',
        latest: true,
        to: 'postgres://app:***@db/school?sslmode=require',
        confirm: 'school',
        password: '***',
        path: '***',
      },
    );
    assert.equal(loggableRestoreEvent('postgres://app:Pa1Pb2@db/school'), 'postgres://app:***@db/school');
    assert.equal(loggableRestoreEvent(42), 42);
  });

  test('an unrecognized event emailed by the alert function shows no secret parameter or URL password', () => {
    const error = unreportedFailure({ to: 'postgres://app:Pa1Pb2@db/x', password: 'Pc3Pd4', hello: 'world' })?.error ?? '';
    assert.equal(error, 'unrecognized failure event: {"to":"postgres://app:***@db/x","password":"***","hello":"world"}');
  });
});
