import { promises as fs } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { checkServerIdentity, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import pg from 'pg';
import { ConfigError } from '../../errors.js';
import { redactText } from '../../redact.js';
import type { PostgresConnection } from './postgres-connection.js';

/**
 * libpq's TLS rules, in one place, for the in-process client (node-postgres, whose own reading
 * of `sslmode` differs: it verifies the certificate under `require`). The client programs
 * (pg_dump, pg_restore, psql) get the same parameters, in the URL and the PG* variables of
 * `libpqEnvironment`, and libpq applies them itself:
 *
 * | sslmode     | in process and in libpq's programs                                                    |
 * | ----------- | ------------------------------------------------------------------------------------- |
 * | disable     | plain                                                                                 |
 * | allow       | plain; if the server refuses it, TLS as under `require`                               |
 * | prefer      | TLS as under `require`; plain if the server offers no TLS, the handshake fails or the |
 * |             | server refuses the TLS login (libpq's default)                                        |
 * | require     | TLS, the certificate unchecked; but if a root certificate file exists, its chain is   |
 * |             | checked against it (libpq: "the same as verify-ca", kept for compatibility)            |
 * | verify-ca   | TLS, the chain checked against the root certificate file, which must exist            |
 * | verify-full | as verify-ca, and the certificate must name the host connected to                     |
 *
 * A Unix-domain socket never uses TLS, whatever sslmode says. The root certificate file is
 * `sslrootcert` (PGSSLROOTCERT), else `~/.postgresql/root.crt`; `system` means the system's
 * trusted CAs and needs verify-full (libpq 16). A client certificate is `sslcert` (PGSSLCERT),
 * else `~/.postgresql/postgresql.crt`, sent with the key `sslkey` (PGSSLKEY), else
 * `~/.postgresql/postgresql.key`, when the certificate file exists.
 */

/** libpq's sslmode values, weakest first. */
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The TLS parameters of one connection: the URL's, else the PG* variables', else libpq's defaults. */
export interface TlsSettings {
  readonly mode: SslMode;
  /** The root certificate file (a default path counts only if the file exists), or `system`; empty without a home directory. */
  readonly rootCert: string;
  /** The client certificate file, used if it exists. */
  readonly cert: string;
  /** The client certificate's private key file. */
  readonly key: string;
}

/** How one connection attempt goes: `false` for plain, else node-postgres's `ssl` option. */
export type TlsAttempt = false | ConnectionOptions;

/**
 * Resolves the TLS parameters of a connection from its URL's query and the PG* variables.
 * Refuses `sslpassword`: libpq takes it only as a connection parameter (there is no PG*
 * variable for it), so pg_dump could get it only on its command line, which other users of the
 * machine can read.
 */
export function resolveTlsSettings(params: URLSearchParams, env: NodeJS.ProcessEnv): TlsSettings {
  if (params.has('sslpassword')) {
    throw new ConfigError(
      'sslpassword is not supported: pg_dump could only receive it on its command line, where other users of this machine can read it',
      {
        hint: 'use a client key without a passphrase (openssl pkey -in client.key -out client-plain.key), readable only by this user (chmod 600), named by sslkey',
      },
    );
  }
  const home = homeDirectory(env);
  const atHome = (file: string) => (home ? join(home, '.postgresql', file) : '');
  const rootCert = params.get('sslrootcert') || env.PGSSLROOTCERT || atHome('root.crt');
  const given = params.get('sslmode') || env.PGSSLMODE || undefined;
  if (given !== undefined && !(SSL_MODES as readonly string[]).includes(given)) {
    throw new ConfigError(`invalid sslmode "${given}"`, { hint: `use one of ${SSL_MODES.join(', ')}` });
  }
  // libpq 16: any of the system's CAs signs certificates for anyone, so only the host name check makes it mean something.
  const mode = (given as SslMode | undefined) ?? (rootCert === 'system' ? 'verify-full' : 'prefer');
  if (rootCert === 'system' && mode !== 'verify-full') {
    throw new ConfigError(`sslmode=${mode} cannot be used with sslrootcert=system`, {
      hint: "use sslmode=verify-full: any certificate from the system's CAs passes a weaker check",
    });
  }
  return {
    mode,
    rootCert,
    cert: params.get('sslcert') || env.PGSSLCERT || atHome('postgresql.crt'),
    key: params.get('sslkey') || env.PGSSLKEY || atHome('postgresql.key'),
  };
}

/** The PG* variables that give a libpq program the TLS parameters the in-process client resolved. */
export function tlsEnvironment(tls: TlsSettings): NodeJS.ProcessEnv {
  // The URL's parameters win over these in libpq as here; the defaults are pinned so both look
  // under the same home directory (older libpq ignores $HOME).
  const out: NodeJS.ProcessEnv = { PGSSLMODE: tls.mode };
  if (tls.rootCert) out.PGSSLROOTCERT = tls.rootCert;
  if (tls.cert) out.PGSSLCERT = tls.cert;
  if (tls.key) out.PGSSLKEY = tls.key;
  return out;
}

/**
 * The attempts libpq would make for `conn`, in order; the next one is tried only when
 * `serverAnswered` the previous failure. Reads the certificate files, so a missing root
 * certificate under verify-ca or verify-full fails here, before anything is sent.
 */
export async function tlsAttempts(conn: PostgresConnection): Promise<TlsAttempt[]> {
  const { mode } = conn.tls;
  if (mode === 'disable' || conn.host.startsWith('/')) return [false];
  const options = await tlsOptions(conn);
  if (mode === 'allow') return [false, options];
  if (mode === 'prefer') return [options, false];
  return [options];
}

async function tlsOptions(conn: PostgresConnection): Promise<ConnectionOptions> {
  const { mode, rootCert } = conn.tls;
  const options: ConnectionOptions = { ...(await clientCertificate(conn.tls)) };
  const ca = rootCert === 'system' ? undefined : await readIfExists(rootCert, 'root certificate file');
  if (rootCert !== 'system' && ca === undefined) {
    if (mode === 'verify-ca' || mode === 'verify-full') {
      const missing = rootCert ? `the root certificate file "${rootCert}" does not exist` : 'no root certificate file is set';
      throw new ConfigError(`cannot verify PostgreSQL at ${conn.host}:${conn.port} under sslmode=${mode}: ${missing}`, {
        hint: "give the CA certificate that signed the server's with sslrootcert=/path/to/ca.pem (or PGSSLROOTCERT), or use sslmode=require to encrypt without verifying",
      });
    }
    return { ...options, rejectUnauthorized: false };
  }
  // With a root certificate, libpq checks the chain in every mode; the name only under verify-full,
  // and against the host as written in the URL, whatever node-postgres passes as the server name.
  return {
    ...options,
    ...(ca === undefined ? {} : { ca }),
    rejectUnauthorized: true,
    checkServerIdentity:
      mode === 'verify-full' ? (_name: string, cert: PeerCertificate) => checkServerIdentity(conn.host, cert) : () => undefined,
  };
}

/** The client certificate and key, if the certificate file exists (else libpq sends none and the server decides). */
async function clientCertificate(tls: TlsSettings): Promise<Pick<ConnectionOptions, 'cert' | 'key'>> {
  const cert = await readIfExists(tls.cert, 'client certificate file');
  if (cert === undefined) return {};
  const key = await readIfExists(tls.key, 'private key file');
  if (key === undefined) {
    throw new ConfigError(`the client certificate "${tls.cert}" has no private key: "${tls.key}" does not exist`, {
      hint: 'name the key with sslkey (or PGSSLKEY)',
    });
  }
  // As libpq on Unix: a key others can read is refused (root-owned keys may be group-readable).
  const { mode, uid } = await fs.stat(tls.key);
  const exposed = uid === process.geteuid?.() ? mode & 0o077 : uid === 0 && mode & 0o037;
  if (process.platform !== 'win32' && exposed) {
    throw new ConfigError(`the private key file "${tls.key}" can be read by other users`, {
      hint: `chmod 600 ${tls.key}`,
    });
  }
  if (/ENCRYPTED/.test(key)) {
    throw new ConfigError(`the private key file "${tls.key}" is encrypted, and dbbackup does not take sslpassword`, {
      hint: 'use a copy without a passphrase (openssl pkey -in client.key -out client-plain.key), readable only by this user (chmod 600)',
    });
  }
  return { cert, key };
}

/**
 * True when the server answered a failed attempt (it offers no TLS, the TLS handshake failed,
 * or it refused the login): then libpq tries its other way under allow and prefer, but not
 * after a network failure.
 */
export function serverAnswered(error: unknown): boolean {
  return error instanceof pg.DatabaseError || refusedTls(error) || tlsCode(error) !== undefined;
}

/** True for node-postgres's errors when the server answers a TLS request with anything but yes. */
export function refusedTls(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return (
    message === 'The server does not support SSL connections' || message === 'There was an error establishing an SSL connection'
  );
}

/**
 * A TLS failure as a user can act on it: the mode, the host and what to do. Undefined when
 * `error` is not about TLS.
 */
export function tlsFailure(conn: PostgresConnection, error: unknown): ConfigError | undefined {
  const where = `PostgreSQL at ${conn.host}:${conn.port}`;
  const mode = `sslmode=${conn.tls.mode}`;
  const message = redactText(error instanceof Error ? error.message : String(error), [conn.password]);
  const code = tlsCode(error);
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const cert = (error as { cert?: PeerCertificate }).cert;
    const names = cert?.subjectaltname || (cert?.subject?.CN ? `CN=${cert.subject.CN}` : 'other names');
    return new ConfigError(`the certificate of ${where} is for ${names}, not "${conn.host}" (${mode})`, {
      hint: 'connect by a name the certificate lists, or use sslmode=verify-ca to check only that a trusted CA signed it',
      cause: error,
    });
  }
  if (code !== undefined && CERTIFICATE_ERROR.test(code)) {
    const against = conn.tls.rootCert === 'system' ? "the system's trusted CAs" : `"${conn.tls.rootCert}"`;
    return new ConfigError(`${where} presented a certificate that ${mode} cannot verify against ${against}: ${message}`, {
      hint: "give the CA certificate that signed the server's with sslrootcert=/path/to/ca.pem (or PGSSLROOTCERT), or use sslmode=require to encrypt without verifying",
      cause: error,
    });
  }
  if (code !== undefined) {
    return new ConfigError(`the TLS handshake with ${where} failed (${mode}): ${message}`, {
      hint: "check the server's TLS settings, and sslcert and sslkey if it asks for a client certificate",
      cause: error,
    });
  }
  if (refusedTls(error)) {
    return new ConfigError(`${where} does not accept TLS connections, and ${mode} requires TLS`, {
      hint: 'turn ssl on in the server, or use sslmode=prefer to connect without TLS to a server that offers none',
      cause: error,
    });
  }
  if (error instanceof pg.DatabaseError && error.code === '28000') {
    if (/no encryption/.test(message)) {
      return new ConfigError(`${where} accepts only TLS connections from here, and ${mode} turns TLS off: ${message}`, {
        hint: 'use sslmode=require or stronger',
        cause: error,
      });
    }
    if (/certificate/.test(message)) {
      return new ConfigError(`${where} asks user "${conn.user}" for a client certificate: ${message}`, {
        hint: 'give the certificate and its key with sslcert and sslkey (or PGSSLCERT and PGSSLKEY)',
        cause: error,
      });
    }
  }
  return undefined;
}

/** OpenSSL's certificate verification results, as Node names them in `error.code`. */
const CERTIFICATE_ERROR =
  /^(UNABLE_TO_|CERT_|CRL_|ERROR_IN_|DEPTH_ZERO_|SELF_SIGNED_|INVALID_CA|INVALID_PURPOSE|PATH_LENGTH_|HOSTNAME_MISMATCH|ERR_TLS_CERT_)/;

/** The code of a TLS error from Node (a certificate check or a failed handshake), else undefined. */
function tlsCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || error instanceof pg.DatabaseError) return undefined;
  return CERTIFICATE_ERROR.test(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO'
    ? code
    : undefined;
}

async function readIfExists(path: string, what: string): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    return await fs.readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // As libpq: a file that is not there is as good as not named; one that cannot be read is an error.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError(`cannot read the ${what} "${path}": ${(error as Error).message}`, { cause: error });
  }
}

function homeDirectory(env: NodeJS.ProcessEnv): string {
  if (env.HOME) return env.HOME;
  try {
    return userInfo().homedir;
  } catch {
    return '';
  }
}
