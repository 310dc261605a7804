import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { libpqEnvironment, parsePostgresUrl } from '../../shared/engines/postgres/postgres-connection.js';
import { type TlsAttempt, tlsAttempts } from '../../shared/engines/postgres/postgres-tls.js';
import { ConfigError } from '../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'dbbackup-tls-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
/** A home without ~/.postgresql, and a root certificate file (its content is not read as a certificate here). */
const home = join(dir, 'home');
const rootCert = join(dir, 'ca.pem');
writeFileSync(rootCert, '-----BEGIN CERTIFICATE-----\n');

const certFor = (name: string) => ({ subject: { CN: name }, subjectaltname: `DNS:${name}` }) as PeerCertificate;

/** One attempt in words: plain, TLS unchecked, TLS with the chain checked, or chain and host name. */
function describeAttempt(attempt: TlsAttempt): string {
  if (attempt === false) return 'plain';
  if (attempt.rejectUnauthorized === false) return 'tls';
  // The check must use the URL's host, whatever name node-postgres hands it.
  const otherName = attempt.checkServerIdentity?.('db.example.com', certFor('elsewhere.example.com'));
  const sameName = attempt.checkServerIdentity?.('ignored', certFor('db.example.com'));
  assert.equal(sameName, undefined);
  return otherName === undefined ? 'tls+chain' : 'tls+chain+host';
}

const words = (attempts: string[] | 'refused') => (attempts === 'refused' ? 'refused' : attempts.join(' then '));

async function attemptsFor(query: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const conn = parsePostgresUrl(`postgres://app@db.example.com:5432/shop${query}`, { HOME: home, ...env });
  return (await tlsAttempts(conn)).map(describeAttempt);
}

describe("sslmode means libpq's", () => {
  const table: Array<[mode: string, withoutRootCert: string[] | 'refused', withRootCert: string[]]> = [
    ['disable', ['plain'], ['plain']],
    ['allow', ['plain', 'tls'], ['plain', 'tls+chain']],
    ['prefer', ['tls', 'plain'], ['tls+chain', 'plain']],
    ['require', ['tls'], ['tls+chain']],
    ['verify-ca', 'refused', ['tls+chain']],
    ['verify-full', 'refused', ['tls+chain+host']],
  ];
  for (const [mode, withoutRootCert, withRootCert] of table) {
    test(`${mode}: ${words(withoutRootCert)} without a root certificate, ${words(withRootCert)} with one`, async () => {
      if (withoutRootCert === 'refused') {
        await assert.rejects(
          attemptsFor(`?sslmode=${mode}`),
          (e: unknown) =>
            e instanceof ConfigError &&
            e.message.includes(`sslmode=${mode}`) &&
            e.message.includes('db.example.com:5432') &&
            /sslrootcert/.test(e.hint ?? ''),
        );
      } else {
        assert.deepEqual(await attemptsFor(`?sslmode=${mode}`), withoutRootCert);
      }
      assert.deepEqual(await attemptsFor(`?sslmode=${mode}&sslrootcert=${encodeURIComponent(rootCert)}`), withRootCert);
      assert.deepEqual(await attemptsFor('', { PGSSLMODE: mode, PGSSLROOTCERT: rootCert }), withRootCert);
    });
  }

  test('the default is prefer; ~/.postgresql/root.crt counts when it exists', async () => {
    assert.deepEqual(await attemptsFor(''), ['tls', 'plain']);
    const withDefault = join(dir, 'home-with-root');
    mkdirSync(join(withDefault, '.postgresql'), { recursive: true });
    writeFileSync(join(withDefault, '.postgresql', 'root.crt'), '-----BEGIN CERTIFICATE-----\n');
    assert.deepEqual(await attemptsFor('?sslmode=require', { HOME: withDefault }), ['tls+chain']);
  });

  test('a Unix-domain socket never uses TLS, as in libpq', async () => {
    const conn = parsePostgresUrl('postgres:///shop?sslmode=verify-full', { HOME: home, PGHOST: '/run/postgresql' });
    assert.deepEqual(await tlsAttempts(conn), [false]);
  });

  test('URL parameters win over PG* variables, which win over the defaults', () => {
    const env = {
      HOME: home,
      PGSSLMODE: 'verify-full',
      PGSSLROOTCERT: '/env/ca.pem',
      PGSSLCERT: '/env/c.crt',
      PGSSLKEY: '/env/c.key',
    };
    const fromEnv = parsePostgresUrl('postgres://app@db/shop', env).tls;
    assert.deepEqual(fromEnv, { mode: 'verify-full', rootCert: '/env/ca.pem', cert: '/env/c.crt', key: '/env/c.key' });
    const fromUrl = parsePostgresUrl(
      'postgres://app@db/shop?sslmode=require&sslrootcert=/url/ca.pem&sslcert=/url/c.crt&sslkey=/url/c.key',
      env,
    ).tls;
    assert.deepEqual(fromUrl, { mode: 'require', rootCert: '/url/ca.pem', cert: '/url/c.crt', key: '/url/c.key' });
    const defaults = parsePostgresUrl('postgres://app@db/shop', { HOME: home }).tls;
    assert.deepEqual(defaults, {
      mode: 'prefer',
      rootCert: join(home, '.postgresql/root.crt'),
      cert: join(home, '.postgresql/postgresql.crt'),
      key: join(home, '.postgresql/postgresql.key'),
    });
  });

  test('pg_dump gets what the in-process client used: the URL keeps its TLS parameters, the variables are pinned', () => {
    const conn = parsePostgresUrl('postgres://app:pw@db/shop?sslmode=verify-ca&sslrootcert=/etc/ca.pem', { HOME: home });
    assert.equal(conn.url, 'postgres://app@db:5432/shop?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem');
    const env = libpqEnvironment(conn, { HOME: home });
    assert.equal(env.PGSSLMODE, 'verify-ca');
    assert.equal(env.PGSSLROOTCERT, '/etc/ca.pem');
    assert.equal(env.PGSSLCERT, join(home, '.postgresql/postgresql.crt'));
    assert.equal(env.PGPASSWORD, 'pw');
  });

  test('an unknown sslmode is a configuration error naming it and the ones that exist', () => {
    assert.throws(
      () => parsePostgresUrl('postgres://app@db/shop?sslmode=verify_full', { HOME: home }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('"verify_full"') && /verify-full/.test(e.hint ?? ''),
    );
  });

  test('sslpassword is refused, and its value is not repeated', () => {
    assert.throws(
      () => parsePostgresUrl('postgres://app@db/shop?sslmode=require&sslpassword=hunter2-secret', { HOME: home }),
      (e: unknown) =>
        e instanceof ConfigError && e.message.startsWith('sslpassword') && !`${e.message} ${e.hint}`.includes('hunter2'),
    );
  });

  test('sslrootcert=system means verify-full, and refuses weaker modes (libpq 16)', () => {
    assert.equal(parsePostgresUrl('postgres://app@db/shop?sslrootcert=system', { HOME: home }).tls.mode, 'verify-full');
    assert.throws(
      () => parsePostgresUrl('postgres://app@db/shop?sslrootcert=system&sslmode=require', { HOME: home }),
      /sslmode=require cannot be used with sslrootcert=system/,
    );
  });
});
