import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { listRunRecords } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';

/** The repository root (tests run from dist/test/...). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const fixturesDir = join(repoRoot, 'test/fixtures');
/** Product samples (the demo's Chinook database) that tests read too. */
export const samplesDir = join(repoRoot, 'samples');

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with "npm test", which starts PostgreSQL and s3rver`);
  return value;
}

/** Superuser URL of the harness cluster for database `db`. */
export function pgUrl(db = 'postgres'): string {
  const url = new URL(required('DBBACKUP_TEST_PG_URL'));
  url.pathname = `/${db}`;
  return url.toString();
}

export function pgPassword(): string {
  return decodeURIComponent(new URL(required('DBBACKUP_TEST_PG_URL')).password);
}

/** A database name no other test uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Runs SQL against a database of the harness cluster. */
export async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
  db: string,
  text: string,
  values?: unknown[],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: pgUrl(db) });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Creates an empty database and returns its name. */
export async function createDatabase(prefix: string): Promise<string> {
  const name = uniqueName(prefix);
  await sql('postgres', `create database "${name}"`);
  return name;
}

/** Runs psql (the client of the harness cluster) with a script file, stopping at the first error. */
export async function psqlFile(db: string, file: string): Promise<void> {
  await run(join(required('DBBACKUP_TEST_PG_BIN_DIR'), 'psql'), [
    '-X',
    '-q',
    '-v',
    'ON_ERROR_STOP=1',
    '-d',
    pgUrl(db),
    '-f',
    file,
  ]);
}

/** Loads the Chinook sample into a new database (the fixture's own CREATE DATABASE is rewritten). */
export async function loadChinook(): Promise<string> {
  const name = uniqueName('chinook');
  const original = await fs.readFile(join(samplesDir, 'chinook/Chinook_PostgreSql.sql'), 'utf8');
  const script = original
    .replace(/DROP DATABASE IF EXISTS chinook;/, '')
    .replace(/CREATE DATABASE chinook;/, `CREATE DATABASE ${name};`)
    .replace(/\\c chinook;/, `\\c ${name}`);
  const dir = await tempDir('chinook-sql');
  await fs.writeFile(join(dir, 'chinook.sql'), script);
  await psqlFile('postgres', join(dir, 'chinook.sql'));
  return name;
}

const tempDirs: string[] = [];
process.once('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp directory, removed when the test process exits. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(join(tmpdir(), `dbbackup-${prefix}-`));
  tempDirs.push(dir);
  return dir;
}

/**
 * A copy of a bundled sample, under the same file name, for this test file alone: a SQLite backup
 * takes a lock file beside its source, so test files backing up the one shared sample at once
 * (and the demo, which backs it up twenty times) would refuse each other as "already running".
 */
export async function sampleCopy(relativePath: string): Promise<string> {
  const path = join(await tempDir('sample'), basename(relativePath));
  await fs.copyFile(join(samplesDir, relativePath), path);
  return path;
}

/** An S3 client for the harness's s3rver, as any user's S3 client would be set up. */
export function s3Client(): S3Client {
  return new S3Client({
    endpoint: required('AWS_ENDPOINT_URL_S3'),
    region: 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a bucket no other test uses. */
export async function createBucket(prefix = 'test'): Promise<string> {
  const bucket = `${prefix}-${randomBytes(4).toString('hex')}`;
  await s3Client().send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Every key in a bucket. */
export async function bucketKeys(bucket: string): Promise<string[]> {
  const result = await s3Client().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (result.Contents ?? []).map((o) => o.Key as string).sort();
}

/**
 * Asserts that what a failed backup left in `bucket` (or in the directory `dir`) under `prefix` is
 * exactly its one run record, which says the run failed with `error` and holds no password.
 */
export async function assertOnlyFailedRunRecord(
  where: { bucket: string } | { dir: string },
  options: { prefix?: string; error?: RegExp } = {},
): Promise<void> {
  const prefix = options.prefix ?? '';
  const keys =
    'bucket' in where
      ? await bucketKeys(where.bucket)
      : (await fs.readdir(where.dir, { recursive: true, withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name).slice(where.dir.length + 1));
  const mine = keys.filter((k) => k.startsWith(prefix));
  assert.equal(mine.length, 1, `only the run record is left, found: ${mine.join(', ')}`);
  assert.match(mine[0] ?? '', new RegExp(`^${prefix}runs/.*\\.jsonl$`));
  const url = 'bucket' in where ? `s3://${where.bucket}/${prefix}` : join(where.dir, prefix);
  const { records } = await listRunRecords(await openTarget(url, 'bucket' in where ? { client: s3Client() } : {}));
  assert.equal(records[0]?.result, 'failed');
  if (options.error) assert.match(records[0]?.error ?? '', options.error);
  assert.ok(!JSON.stringify(records[0]).includes(pgPassword()), 'the record holds no password');
}

/**
 * An S3 client that records the name of every command it sends. s3rver cannot list open
 * multipart uploads, so tests check that each CreateMultipartUpload is followed by a
 * Complete or an Abort from the real client.
 */
export function observedS3Client(): { client: S3Client; sent: string[] } {
  const sent: string[] = [];
  const client = s3Client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push(String(context.commandName));
      return next(args);
    },
    { step: 'initialize', name: 'recordCommands' },
  );
  return { client, sent };
}

/** Downloads an object whole. */
export async function getObject(bucket: string, key: string): Promise<Buffer> {
  const result = await s3Client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await (result.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

/** What a finished process printed. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion; rejects on a non-zero exit. */
export async function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: Buffer } = {},
): Promise<RunResult> {
  const result = await runAllowingFailure(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result;
}

export function runAllowingFailure(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; input?: Buffer; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
    );
    // A program may exit before reading all its input (pg_restore -l reads only the header).
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
  });
}

/** Runs the dbbackup CLI as a user would (the bin launcher, in a child process). */
export function cli(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<RunResult> {
  return runAllowingFailure(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), ...args], options);
}

/**
 * A directory holding a `pg_dump` shell wrapper around the harness's real one, for
 * DBBACKUP_PG_BIN_DIR: `body` runs with $REAL set to the real pg_dump and "$@" its arguments.
 */
export async function pgDumpWrapperDir(body: string): Promise<string> {
  const dir = await tempDir('pgwrap');
  const real = join(required('DBBACKUP_TEST_PG_BIN_DIR'), 'pg_dump');
  await fs.writeFile(
    join(dir, 'pg_dump'),
    `#!/bin/sh\nREAL='${real}'\nif [ "$1" = "--version" ]; then exec "$REAL" --version; fi\n${body}\n`,
    { mode: 0o755 },
  );
  return dir;
}

/**
 * Runs the CLI with DBBACKUP_TEST_PAUSE_AT=point until it says it paused there, then kills it
 * with SIGKILL: a crash at an exact instant (see shared/pipeline/pause-point.ts).
 */
export async function killCliAt(point: string, args: string[]): Promise<void> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), ...args], {
    env: { ...process.env, DBBACKUP_TEST_PAUSE_AT: point },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const closed = new Promise((resolve) => child.on('close', resolve));
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes(`paused at ${point}`)) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`the CLI exited before reaching ${point}: ${stderr}`)));
  });
  await closed;
}

/** What a run of a program did within a time limit, and how long it took. */
export interface TimedRun extends RunResult {
  /** The signal that ended it, if one did (then `code` is 128 + its number, as a shell reports it). */
  readonly signal: NodeJS.Signals | null;
  readonly ms: number;
  /** True when it was still running at the limit and was killed: a hang. */
  readonly timedOut: boolean;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Runs a program like runAllowingFailure, but never waits past `limitMs`: a run still going then
 * is killed with SIGKILL and reported as `timedOut`, so a hang fails the test instead of stalling
 * the suite. `onStart` gets the child (to send it signals); `onStderr` sees stderr as it arrives.
 */
export function runWithin(
  command: string,
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    limitMs: number;
    onStart?: (child: ChildProcess) => void;
    onStderr?: (text: string) => void;
  },
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const limit = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.limitMs);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err.push(c);
      options.onStderr?.(Buffer.concat(err).toString('utf8'));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      resolve({
        code: code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0),
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
        timedOut,
      });
    });
    options.onStart?.(child);
  });
}

/** Runs the dbbackup CLI as cli() does, within a time limit (see runWithin). */
export function cliWithin(args: string[], options: Parameters<typeof runWithin>[2]): Promise<TimedRun> {
  return runWithin(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), ...args], options);
}

/** Resolves once `check` returns true (polled every 25 ms), or rejects after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** The sessions open on a database of the harness cluster, other than the one asking. */
export async function sessionsOn(db: string): Promise<Array<{ pid: number; state: string; application_name: string }>> {
  // Client backends only: an autovacuum worker analysing a freshly loaded table is listed under the
  // database too (state active, no application name), and is nobody's session left open.
  return sql(
    'postgres',
    `select pid, state, application_name from pg_stat_activity
      where datname = $1 and pid <> pg_backend_pid() and backend_type = 'client backend'`,
    [db],
  );
}

/** The advisory locks held in a database of the harness cluster (a backup's lock is one). */
export async function advisoryLocksOn(db: string): Promise<number> {
  const rows = await sql<{ n: string }>(
    'postgres',
    `select count(*)::text as n from pg_locks l join pg_database d on d.oid = l.database
      where l.locktype = 'advisory' and d.datname = $1`,
    [db],
  );
  return Number(rows[0]?.n ?? 0);
}

/** The entries of a directory, recursively (files and directories), sorted. */
export async function treeOf(dir: string): Promise<string[]> {
  return (await fs.readdir(dir, { recursive: true })).sort();
}

/** A TCP endpoint and what it has accepted. */
export interface StandInEndpoint {
  readonly endpoint: string;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

async function listen(onConnection: (socket: Socket) => void): Promise<StandInEndpoint & { sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    sockets,
    connections: () => accepted,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A stand-in for an endpoint that accepts connections and never answers (an S3 endpoint behind
 * a stalled load balancer, a hung proxy): no real server stalls on cue. It reads and drops what
 * it is sent.
 */
export async function startStalledServer(): Promise<StandInEndpoint> {
  return listen((socket) => socket.resume());
}

/**
 * A stand-in for an S3 endpoint that dies or stalls mid-backup: it forwards to `endpoint` (the
 * harness's real s3rver) until told otherwise. After `stall()` every connection, open or new,
 * stops answering (what it is sent is dropped); after `reset()` every connection is reset.
 */
export async function startFailingProxy(endpoint: string): Promise<StandInEndpoint & { stall(): void; reset(): void }> {
  const upstream = new URL(endpoint);
  let mode: 'forward' | 'stall' | 'reset' = 'forward';
  const pairs = new Set<{ client: Socket; server: Socket }>();
  const server = await listen((client) => {
    if (mode === 'reset') return void client.resetAndDestroy();
    if (mode === 'stall') return void client.resume();
    const upstreamSocket = connect(Number(upstream.port), upstream.hostname);
    const pair = { client, server: upstreamSocket };
    pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (mode === 'forward') upstreamSocket.write(chunk);
    });
    upstreamSocket.on('data', (chunk: Buffer) => {
      if (mode === 'forward') client.write(chunk);
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstreamSocket.destroy();
    };
    upstreamSocket.on('error', end);
    upstreamSocket.on('close', () => mode === 'forward' && end());
    client.on('close', end);
  });
  return {
    ...server,
    stall: () => {
      mode = 'stall';
    },
    reset: () => {
      mode = 'reset';
      for (const { client, server: upstreamSocket } of pairs) {
        client.resetAndDestroy();
        upstreamSocket.destroy();
      }
    },
  };
}

const LEFT_MARKER = '--- left on the disk';

/**
 * Runs the CLI with `dir` mounted as a fresh tmpfs of `sizeBytes` bytes and at most `inodes`
 * inodes (files, directories and hard links each take one): a disk that fills on cue. The mount
 * lives in a user and mount namespace of its own (unshare), so it needs no privilege and
 * vanishes with the run; `left` lists the files the run left on it, looked at just before.
 */
export async function cliOnSmallDisk(
  dir: string,
  disk: { sizeBytes: number; inodes?: number },
  args: string[],
  options: { env?: NodeJS.ProcessEnv; limitMs: number },
): Promise<TimedRun & { left: string[] }> {
  const mountOptions = `size=${disk.sizeBytes}${disk.inodes ? `,nr_inodes=${disk.inodes}` : ''}`;
  const script = [
    `mount -t tmpfs -o ${mountOptions} tmpfs "$DISK" || exit 99`,
    '"$NODE" "$CLI" "$@"; code=$?',
    `echo '${LEFT_MARKER}'`,
    'cd "$DISK" && find . -mindepth 1 -type f | sort',
    'exit $code',
  ].join('\n');
  const result = await runWithin('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', script, 'sh', ...args], {
    env: { ...(options.env ?? process.env), DISK: dir, NODE: process.execPath, CLI: join(repoRoot, 'bin/dbbackup.js') },
    limitMs: options.limitMs,
  });
  if (result.code === 99) throw new Error(`cannot mount a tmpfs at ${dir} in a new namespace: ${result.stderr}`);
  const [stdout = '', listing = ''] = result.stdout.split(`${LEFT_MARKER}\n`);
  const left = listing
    .split('\n')
    .filter(Boolean)
    .map((entry) => entry.replace(/^\.\//, ''));
  return { ...result, stdout, left };
}

/** A process of this machine as /proc shows it: its parent, its name (`comm`) and its arguments. */
export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
  readonly argv: readonly string[];
}

/** Every process of this machine, zombies included (a process that exits meanwhile is left out). */
export function processes(): ProcessEntry[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        // `pid (comm) state ppid …`: the name may hold spaces and parentheses, so the last ')' ends it.
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const ppid = Number(stat.slice(close + 2).split(' ')[1]);
        return [{ pid: Number(entry), ppid, name: stat.slice(stat.indexOf('(') + 1, close), argv }];
      } catch {
        return [];
      }
    });
}

/** The processes descended from `root` (its children, theirs, …), e.g. a client program under the watchdog shell. */
export function descendantsOf(root: number): ProcessEntry[] {
  const all = processes();
  const found: ProcessEntry[] = [];
  const walk = (parent: number) => {
    for (const child of all.filter((p) => p.ppid === parent)) {
      found.push(child);
      walk(child.pid);
    }
  };
  walk(root);
  return found;
}
