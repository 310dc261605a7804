import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';

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
