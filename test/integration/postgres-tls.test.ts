import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectPostgres } from '../../shared/engines/postgres/postgres-client.js';
import { parsePostgresUrl } from '../../shared/engines/postgres/postgres-connection.js';
import { ConfigError, formatErrorLine } from '../../shared/errors.js';
import { type PostgresCluster, startPostgresCluster } from '../harness/postgres-cluster.js';
import { cli, pgDumpWrapperDir, pgUrl, type RunResult, run, tempDir } from '../harness/test-env.js';

/**
 * A private CA (one Node and libpq do not trust), a server certificate from it for `localhost`
 * only, a client certificate for CERT_USER, and a second CA that signed none of them.
 */
interface Pki {
  readonly ca: string;
  readonly otherCa: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** A role that logs in with a client certificate only (pg_hba `cert`), no password. */
const CERT_USER = 'tls_cert_user';
const DATABASE = 'shop';

async function openssl(...args: string[]): Promise<void> {
  await run('openssl', args);
}

async function makePki(dir: string): Promise<Pki> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExtensions = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'];
  for (const name of ['ca', 'other-ca']) {
    const subject = `/CN=dbbackup test ${name}`;
    await openssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.crt`),
      '-days',
      '2',
      '-subj',
      subject,
      ...caExtensions,
    );
  }
  const issue = async (name: string, subject: string, extensions: string) => {
    await fs.writeFile(join(dir, `${name}.ext`), extensions);
    await openssl('req', '-new', ...ec, '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`), '-subj', subject);
    await openssl(
      'x509',
      '-req',
      '-in',
      join(dir, `${name}.csr`),
      '-CA',
      join(dir, 'ca.crt'),
      '-CAkey',
      join(dir, 'ca.key'),
      '-set_serial',
      String(Date.now()),
      '-days',
      '2',
      '-out',
      join(dir, `${name}.crt`),
      '-extfile',
      join(dir, `${name}.ext`),
    );
  };
  await issue('server', '/CN=localhost', 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await issue('client', `/CN=${CERT_USER}`, 'extendedKeyUsage=clientAuth\n');
  return {
    ca: join(dir, 'ca.crt'),
    otherCa: join(dir, 'other-ca.crt'),
    serverCert: join(dir, 'server.crt'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'),
    clientKey: join(dir, 'client.key'),
  };
}

/** Asserts the CLI failed the way a user should see it: the exit code and exactly one line on stderr. */
function assertOneLineFailure(result: RunResult, code: number, ...patterns: RegExp[]): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  for (const pattern of patterns) assert.match(lines[0] ?? '', pattern);
}

describe('PostgreSQL over TLS: sslmode means what it means to libpq, in the probe and in pg_dump', () => {
  let pki: Pki;
  let cluster: PostgresCluster | undefined;
  /** An empty home directory, so no ~/.postgresql/root.crt of this machine takes part. */
  let home: string;

  before(async () => {
    const dir = await tempDir('pg-tls');
    home = await tempDir('pg-tls-home');
    pki = await makePki(dir);
    cluster = await startPostgresCluster({
      files: {
        'server.crt': await fs.readFile(pki.serverCert, 'utf8'),
        'server.key': await fs.readFile(pki.serverKey, 'utf8'),
        'client-ca.crt': await fs.readFile(pki.ca, 'utf8'),
        // TLS or nothing over TCP: a connection that succeeds is an encrypted one.
        'pg_hba.conf': `local all all trust\nhostssl all ${CERT_USER} 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 scram-sha-256\n`,
      },
      settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key', ssl_ca_file: 'client-ca.crt' },
    });
    await admin('postgres', [`create role ${CERT_USER} login`, `create database ${DATABASE} owner ${CERT_USER}`]);
    await admin(DATABASE, [
      'create table items (id int primary key, name text not null)',
      `insert into items select i, 'item ' || i from generate_series(1, 100) as i`,
      `alter table items owner to ${CERT_USER}`,
    ]);
  });

  after(async () => {
    await cluster?.stop();
  });

  /** Runs statements as the superuser, over TLS without verification (the test's own plumbing). */
  async function admin(database: string, statements: string[]): Promise<void> {
    const client = new pg.Client({ ...serverAddress('127.0.0.1', database), ssl: { rejectUnauthorized: false } });
    await client.connect();
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
  }

  function serverAddress(host: string, database: string) {
    const c = cluster as PostgresCluster;
    return { host, port: c.port, user: 'postgres', password: c.password, database };
  }

  /** The superuser's URL on the TLS cluster, through `host`, with these query parameters. */
  function tlsUrl(host: string, params: Record<string, string> = {}, database = DATABASE): string {
    const c = cluster as PostgresCluster;
    const query = new URLSearchParams(params).toString();
    return `postgres://postgres:${c.password}@${host}:${c.port}/${database}${query ? `?${query}` : ''}`;
  }

  /** CERT_USER's URL: no password, the client certificate is the login. */
  function certUserUrl(params: Record<string, string> = {}): string {
    const query = new URLSearchParams(params).toString();
    return `postgres://${CERT_USER}@localhost:${(cluster as PostgresCluster).port}/${DATABASE}${query ? `?${query}` : ''}`;
  }

  /** The environment of a user with none of this machine's PG* variables and an empty home. */
  function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PG')));
    return { ...env, HOME: home, ...extra };
  }

  /** Connects in process as the backup's probe does; true when the session is encrypted. */
  async function probeUsesTls(url: string, extra: NodeJS.ProcessEnv = {}): Promise<boolean> {
    const client = await connectPostgres(parsePostgresUrl(url, userEnv(extra)));
    try {
      const { rows } = await client.query<{ ssl: boolean }>('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      return rows[0]?.ssl === true;
    } finally {
      await client.end();
    }
  }

  /** The probe's failure as the user reads it. */
  async function probeFailure(url: string, extra: NodeJS.ProcessEnv = {}): Promise<string> {
    try {
      await probeUsesTls(url, extra);
    } catch (error) {
      assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
      return formatErrorLine(error);
    }
    assert.fail(`connecting to ${url} succeeded`);
  }

  /** A real `dbbackup backup` (probe in process, then pg_dump) into a fresh directory. */
  async function backup(source: string, extra: NodeJS.ProcessEnv = {}): Promise<RunResult> {
    const target = await tempDir('tls-backup');
    return cli(['backup', '--source', source, '--target', target, '--json'], { env: userEnv(extra) });
  }

  function assertBackedUp(result: RunResult): void {
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).tables['public.items'], 100);
    assert.doesNotMatch(result.stderr, /WARNING|uselibpqcompat/, 'no warning from node-postgres');
  }

  test('sslmode=require encrypts without verifying: a certificate from a CA nobody trusts is accepted by the probe and pg_dump, with no warning', async () => {
    const url = tlsUrl('127.0.0.1', { sslmode: 'require' });
    assert.equal(await probeUsesTls(url), true);
    assertBackedUp(await backup(url));
  });

  test('sslmode=verify-full with sslrootcert naming the private CA connects by the name on the certificate, for backup and restore', async () => {
    const url = tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: pki.ca });
    assert.equal(await probeUsesTls(url), true);
    const result = await backup(url);
    assertBackedUp(result);

    const restored = await cli(
      [
        'restore',
        '--path',
        JSON.parse(result.stdout).location,
        '--to',
        tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: pki.ca }, 'shop_copy'),
        '--confirm',
        'shop_copy',
        '--no-safety-backup',
      ],
      { env: userEnv() },
    );
    assert.equal(restored.code, 0, restored.stderr);
  });

  test('sslmode=verify-full without the CA that signed the certificate fails in one line naming the mode, the host and the fix', async () => {
    const port = (cluster as PostgresCluster).port;
    const noCa = tlsUrl('localhost', { sslmode: 'verify-full' });
    const patterns = [/sslmode=verify-full/, new RegExp(`localhost:${port}`), /sslrootcert/, /sslmode=require/];
    for (const pattern of patterns) assert.match(await probeFailure(noCa), pattern);
    assertOneLineFailure(await backup(noCa), 2, ...patterns);

    const wrongCa = tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: pki.otherCa });
    const wrongPatterns = [/sslmode=verify-full/, new RegExp(`localhost:${port}`), /other-ca\.crt/];
    for (const pattern of wrongPatterns) assert.match(await probeFailure(wrongCa), pattern);
    assertOneLineFailure(await backup(wrongCa), 2, ...wrongPatterns);
  });

  test('a host name the certificate does not list fails under verify-full and passes under verify-ca', async () => {
    const byAddress = tlsUrl('127.0.0.1', { sslmode: 'verify-full', sslrootcert: pki.ca });
    const patterns = [/"127\.0\.0\.1"/, /DNS:localhost/, /sslmode=verify-full/, /verify-ca/];
    for (const pattern of patterns) assert.match(await probeFailure(byAddress), pattern);
    assertOneLineFailure(await backup(byAddress), 2, ...patterns);

    const caOnly = tlsUrl('127.0.0.1', { sslmode: 'verify-ca', sslrootcert: pki.ca });
    assert.equal(await probeUsesTls(caOnly), true);
    assertBackedUp(await backup(caOnly));
  });

  test('sslmode=disable against a server that accepts only TLS fails in one line saying so', async () => {
    const url = tlsUrl('127.0.0.1', { sslmode: 'disable' });
    const patterns = [/only TLS/, /sslmode=disable/, /sslmode=require/];
    for (const pattern of patterns) assert.match(await probeFailure(url), pattern);
    assertOneLineFailure(await backup(url), 2, ...patterns);
  });

  test('PGSSLMODE and PGSSLROOTCERT work as the URL parameters do, and the URL wins over them', async () => {
    const url = tlsUrl('localhost');
    const verifyFull = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.ca };
    assert.equal(await probeUsesTls(url, verifyFull), true);
    assertBackedUp(await backup(url, verifyFull));

    const port = (cluster as PostgresCluster).port;
    const noCa = { PGSSLMODE: 'verify-full' };
    assert.match(await probeFailure(url, noCa), /sslmode=verify-full/);
    assertOneLineFailure(await backup(url, noCa), 2, /sslmode=verify-full/, new RegExp(`localhost:${port}`));

    const required = tlsUrl('127.0.0.1', { sslmode: 'require' });
    assert.equal(await probeUsesTls(required, noCa), true);
    assertBackedUp(await backup(required, noCa));
  });

  test('a client certificate logs in by sslcert and sslkey, as URL parameters or PGSSLCERT and PGSSLKEY, for the probe and pg_dump', async () => {
    const viaUrl = certUserUrl({ sslmode: 'verify-full', sslrootcert: pki.ca, sslcert: pki.clientCert, sslkey: pki.clientKey });
    assert.equal(await probeUsesTls(viaUrl), true);
    assertBackedUp(await backup(viaUrl));

    const viaEnv = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: pki.ca, PGSSLCERT: pki.clientCert, PGSSLKEY: pki.clientKey };
    assert.equal(await probeUsesTls(certUserUrl(), viaEnv), true);
    assertBackedUp(await backup(certUserUrl(), viaEnv));

    const without = await backup(certUserUrl({ sslmode: 'verify-full', sslrootcert: pki.ca }));
    assertOneLineFailure(without, 2, /certificate/);
  });

  test('prefer, the default, encrypts where the server offers TLS and falls back to plain where it does not; require does not fall back', async () => {
    assert.equal(await probeUsesTls(tlsUrl('127.0.0.1')), true);
    assert.equal(await probeUsesTls(tlsUrl('127.0.0.1', { sslmode: 'prefer' })), true);
    assert.equal(await probeUsesTls(tlsUrl('127.0.0.1', { sslmode: 'allow' })), true);

    // The harness's shared cluster runs without TLS.
    const plain = new URL(pgUrl());
    assert.equal(await probeUsesTls(plain.toString()), false);
    plain.searchParams.set('sslmode', 'prefer');
    assert.equal(await probeUsesTls(plain.toString()), false);
    plain.searchParams.set('sslmode', 'require');
    const failure = await probeFailure(plain.toString());
    assert.match(failure, /does not accept TLS/);
    assert.match(failure, /sslmode=require/);
  });

  test('sslpassword is refused before anything runs: no secret reaches pg_dump or the output', async () => {
    const dir = await tempDir('tls-argv');
    const wrapper = await pgDumpWrapperDir(`printf '%s\\n' "$@" > '${dir}/argv'; exec "$REAL" "$@"`);
    const secret = 'key-passphrase-4711';
    const refused = await backup(tlsUrl('localhost', { sslmode: 'require', sslpassword: secret }), {
      DBBACKUP_PG_BIN_DIR: wrapper,
    });
    assertOneLineFailure(refused, 2, /sslpassword/);
    assert.ok(!refused.stderr.includes(secret));
    assert.equal(await fs.stat(join(dir, 'argv')).catch(() => undefined), undefined, 'pg_dump never started');

    // What pg_dump does receive: the TLS parameters, by URL; the password, by environment only.
    const result = await backup(tlsUrl('localhost', { sslmode: 'verify-full', sslrootcert: pki.ca }), {
      DBBACKUP_PG_BIN_DIR: wrapper,
    });
    assertBackedUp(result);
    const argv = await fs.readFile(join(dir, 'argv'), 'utf8');
    assert.match(argv, /--dbname=postgres:\/\/postgres@localhost:\d+\/shop\?sslmode=verify-full&sslrootcert=/);
    assert.ok(!argv.includes((cluster as PostgresCluster).password));
    assert.ok(!result.stdout.includes((cluster as PostgresCluster).password));
  });
});
