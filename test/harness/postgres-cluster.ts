import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

/** A throwaway PostgreSQL cluster for the test run. */
export interface PostgresCluster {
  /** Superuser URL with password, to the `postgres` database. */
  readonly url: string;
  readonly port: number;
  readonly password: string;
  readonly binDir: string;
  stop(): Promise<void>;
}

/** What a test needs from a cluster beyond the defaults. */
export interface PostgresClusterOptions {
  /**
   * Files written into the data directory before start-up, owned by the server's user with mode
   * 0600: a TLS certificate and key, or a `pg_hba.conf` that replaces initdb's.
   * @default none
   */
  readonly files?: Readonly<Record<string, string>>;
  /**
   * Server settings passed as `-c name=value` after the defaults (so they override them); file
   * paths relative to the data directory name the `files` above.
   * @default none
   */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * The directory holding `initdb` and `postgres` (the version matrix's other majors).
   * @default the newest in /usr/lib/postgresql/N/bin, else PATH
   */
  readonly binDir?: string;
}

/**
 * Starts the system's PostgreSQL (initdb + postgres) in a temp dir on a free port of
 * 127.0.0.1, with password (scram) authentication over TCP. As root it runs as the `postgres`
 * user, since initdb refuses root. Fails with the package to install when binaries are missing.
 */
export async function startPostgresCluster(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
  const binDir = options.binDir ?? (await findServerBinDir());
  const owner = process.getuid?.() === 0 ? systemUser('postgres') : undefined;
  const dir = await fs.mkdtemp(join(tmpdir(), 'dbbackup-test-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  await fs.writeFile(join(dir, 'pwfile'), `${password}\n`);
  if (owner) await chownTree(dir, owner);

  const initdb = spawnSync(
    join(binDir, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      '--pwfile',
      join(dir, 'pwfile'),
      '-E',
      'UTF8',
      '--locale=C',
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--no-sync',
    ],
    { encoding: 'utf8', uid: owner?.uid, gid: owner?.gid },
  );
  if (initdb.status !== 0) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${initdb.stderr || initdb.error?.message}`);
  }
  for (const [name, text] of Object.entries(options.files ?? {})) {
    const file = join(data, name);
    await fs.writeFile(file, text, { mode: 0o600 });
    if (owner) await fs.chown(file, owner.uid, owner.gid);
  }
  const settings = Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  const port = await freePort();
  const server: ChildProcess = spawn(
    join(binDir, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
      ...settings,
    ],
    { uid: owner?.uid, gid: owner?.gid, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  server.stderr?.setEncoding('utf8').on('data', (t: string) => {
    log = (log + t).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;

  const stop = async () => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGINT'); // fast shutdown
      const timer = setTimeout(() => server.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await fs.rm(dir, { recursive: true, force: true });
  };

  for (let attempt = 0; ; attempt++) {
    if (server.exitCode !== null) {
      await stop();
      throw new Error(`postgres exited during start-up: ${log}`);
    }
    const client = new pg.Client({ connectionString: url });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => {});
      // A server that answers with an error other than "starting up" is up, even if this plain
      // login is not allowed (a pg_hba.conf of `hostssl` lines refuses it).
      if (error instanceof pg.DatabaseError && error.code !== '57P03') break;
      if (attempt > 150) {
        await stop();
        throw new Error(`postgres did not accept connections: ${(error as Error).message}\n${log}`);
      }
      await sleep(200);
    }
  }
  return { url, port, password, binDir, stop };
}

async function findServerBinDir(): Promise<string> {
  const candidates: string[] = [];
  try {
    const versions = (await fs.readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {}
  candidates.push(...(process.env.PATH ?? '').split(delimiter));
  for (const dir of candidates) {
    const ok = await Promise.all(
      ['initdb', 'postgres'].map((b) =>
        fs.access(join(dir, b), constants.X_OK).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (ok.every(Boolean)) return dir;
  }
  throw new Error(
    'the tests need a PostgreSQL server (initdb and postgres were not found): install it with "apt-get install postgresql" (.ci/run does this)',
  );
}

function systemUser(name: string): { uid: number; gid: number } {
  const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (id.status !== 0) {
    throw new Error(
      `running as root, the tests need the "${name}" system user for PostgreSQL (apt-get install postgresql creates it)`,
    );
  }
  return { uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function chownTree(path: string, owner: { uid: number; gid: number }): Promise<void> {
  await fs.chown(path, owner.uid, owner.gid);
  const stat = await fs.stat(path);
  if (stat.isDirectory()) for (const entry of await fs.readdir(path)) await chownTree(join(path, entry), owner);
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
