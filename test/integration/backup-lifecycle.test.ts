import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { CancelledError, StorageError } from '../../shared/errors.js';
import { readSettings } from '../../shared/settings.js';
import { createS3Client, S3Target } from '../../shared/targets/s3-target.js';
import {
  advisoryLocksOn,
  assertOnlyFailedRunRecord,
  bucketKeys,
  cliWithin,
  createBucket,
  createDatabase,
  observedS3Client,
  pgDumpWrapperDir,
  pgUrl,
  s3Client,
  sessionsOn,
  sql,
  type StandInEndpoint,
  startFailingProxy,
  startStalledServer,
  type TimedRun,
  tempDir,
  treeOf,
  waitFor,
} from '../harness/test-env.js';

/** How long a failed run may take, end to end, before it counts as a hang. */
const PROMPT_MS = 8_000;

/** Asserts nothing of a run is held any more: no session or lock on `db`, nothing in its temp dir. */
async function assertNothingHeld(db: string, tmp: string): Promise<void> {
  assert.deepEqual(await sessionsOn(db), [], 'no session of the run is left on the database');
  assert.equal(await advisoryLocksOn(db), 0, 'no advisory lock is held');
  assert.deepEqual(await treeOf(tmp), [], 'nothing is left in the temp dir');
}

/** One line says why the run failed; beside it at most the warning that its run record could not be stored (the target stalls). */
function assertOneLine(result: TimedRun, pattern: RegExp): void {
  const lines = result.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^warning: run record not written: /.test(l));
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

function withoutRegion(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = { ...env, AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' };
  delete copy.AWS_REGION;
  delete copy.AWS_DEFAULT_REGION;
  return copy;
}

/** A database with a table of about `mb` megabytes (uncompressed dump), for runs that stream a while. */
async function databaseOf(prefix: string, mb: number): Promise<string> {
  const db = await createDatabase(prefix);
  await sql(
    db,
    `create table filler as select g as id, md5(g::text) || repeat(md5((g * 7)::text), 6) as t
       from generate_series(1, ${Math.round(mb * 4500)}) g`,
  );
  return db;
}

describe('a backup that fails before any data moves ends at once and holds nothing', () => {
  let db: string;
  let bucket: string;
  let stalled: StandInEndpoint;

  before(async () => {
    [db, bucket, stalled] = await Promise.all([createDatabase('preflight'), createBucket('preflight'), startStalledServer()]);
    await sql(db, 'create table t as select generate_series(1, 1000) as g');
  });
  after(async () => {
    await stalled?.stop();
  });

  const failures: Array<{
    readonly name: string;
    readonly target: (dir: string) => Promise<string>;
    readonly env?: (env: NodeJS.ProcessEnv) => NodeJS.ProcessEnv;
    readonly code: number;
    readonly message: RegExp;
  }> = [
    {
      name: 'a bucket that does not exist',
      target: async () => `s3://no-such-bucket-${randomBytes(3).toString('hex')}`,
      code: 1,
      message: /bucket "no-such-bucket-\w+" does not exist\. create the bucket/,
    },
    {
      name: 'an unreachable S3 endpoint',
      target: async () => `s3://${bucket}`,
      env: (env) => ({ ...env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' }),
      code: 1,
      message: /cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/,
    },
    {
      name: 'no AWS region',
      target: async () => `s3://${bucket}`,
      env: withoutRegion,
      code: 2,
      message: /no AWS region configured\. set AWS_REGION/,
    },
    {
      name: 'a wrong access key',
      target: async () => `s3://${bucket}`,
      env: (env) => ({ ...env, AWS_ACCESS_KEY_ID: 'NOT-THE-KEY' }),
      code: 1,
      message: /access denied/,
    },
    {
      name: 'a target that is a file',
      target: async (dir) => {
        await fs.writeFile(join(dir, 'a-file'), 'not a directory');
        return join(dir, 'a-file', 'backups');
      },
      code: 1,
      message: /a-file is not a directory/,
    },
  ];

  for (const failure of failures) {
    test(`${failure.name}: one line, a prompt exit, no session, lock or temp file left`, async () => {
      const tmp = await tempDir('preflight-tmp');
      const dir = await tempDir('preflight-target');
      const env = { ...(failure.env?.(process.env) ?? process.env), DBBACKUP_TMPDIR: tmp };
      const result = await cliWithin(['backup', '--source', pgUrl(db), '--target', await failure.target(dir)], {
        env,
        limitMs: 20_000,
      });
      assert.ok(!result.timedOut, `the CLI was still running after 20 s; it said: ${result.stderr}`);
      assert.ok(result.ms < PROMPT_MS, `the CLI took ${result.ms} ms to end`);
      assert.equal(result.code, failure.code, result.stderr);
      assertOneLine(result, failure.message);
      await assertNothingHeld(db, tmp);
    });
  }

  test('the source failing first while the target stalls: the source error, at once', async () => {
    const tmp = await tempDir('preflight-tmp');
    const wrong = new URL(pgUrl(db));
    wrong.password = 'not-the-password';
    const result = await cliWithin(['backup', '--source', wrong.toString(), '--target', 's3://stalled-bucket'], {
      env: { ...process.env, AWS_ENDPOINT_URL_S3: stalled.endpoint, DBBACKUP_TMPDIR: tmp },
      limitMs: 20_000,
    });
    assert.ok(!result.timedOut && result.ms < PROMPT_MS, `the CLI took ${result.ms} ms (timed out: ${result.timedOut})`);
    assert.equal(result.code, 2, result.stderr);
    assertOneLine(result, /refused the login of user "postgres"/);
    await assertNothingHeld(db, tmp);
  });

  test('in a process that lives on (a warm Lambda), a failed pre-flight releases the session and its lock, and the next backup succeeds', async () => {
    const warmClient = s3Client();
    const missing = `warm-${randomBytes(4).toString('hex')}`;
    await assert.rejects(
      runBackup({ source: pgUrl(db), target: `s3://${missing}` }, { s3Client: warmClient }),
      (error: Error) => error instanceof StorageError && /does not exist/.test(error.message),
    );
    // A probe still running when the failure was reported would finish about now.
    await sleep(1_500);
    assert.deepEqual(await sessionsOn(db), [], 'no session idles in transaction, holding a snapshot');
    assert.equal(await advisoryLocksOn(db), 0);

    await s3Client().send(new CreateBucketCommand({ Bucket: missing }));
    const manifest = await runBackup({ source: pgUrl(db), target: `s3://${missing}` }, { s3Client: warmClient });
    assert.equal(manifest.tables['public.t'], 1000);
    assert.deepEqual(await sessionsOn(db), []);
  });
});

describe('a stalled target, a deadline and signals: every run ends within its timeouts', () => {
  let db: string;
  let big: string;
  let stalled: StandInEndpoint;

  before(async () => {
    [db, big, stalled] = await Promise.all([createDatabase('stall'), databaseOf('stallbig', 40), startStalledServer()]);
    await sql(db, 'create table t as select generate_series(1, 1000) as g');
  });
  after(async () => {
    await stalled?.stop();
  });

  test('an S3 endpoint that accepts and never answers: each request gives up after its idle timeout, with the standard retries', async () => {
    const settings = readSettings({ ...process.env, AWS_ENDPOINT_URL_S3: stalled.endpoint });
    const client = createS3Client({ settings, timeouts: { connectionMs: 1_000, idleMs: 300 } });
    const target = new S3Target('s3://stalled-bucket', { client, settings });
    const before = stalled.connections();
    const started = Date.now();
    await assert.rejects(
      target.preflight(),
      (error: Error) => error instanceof StorageError && /stopped answering/.test(error.message),
    );
    assert.ok(Date.now() - started < 5_000, `gave up after ${Date.now() - started} ms`);
    assert.equal(stalled.connections() - before, 3, 'three attempts: the SDK standard retry policy');
  });

  test('--timeout ends a backup whose target stalls: one line that says so, nothing held', async () => {
    const tmp = await tempDir('stall-tmp');
    const result = await cliWithin(['backup', '--source', pgUrl(db), '--target', 's3://stalled-bucket', '--timeout', '3'], {
      env: { ...process.env, AWS_ENDPOINT_URL_S3: stalled.endpoint, DBBACKUP_TMPDIR: tmp },
      limitMs: 30_000,
    });
    assert.ok(!result.timedOut, `still running after 30 s: ${result.stderr}`);
    assert.ok(result.ms < 3_000 + PROMPT_MS, `took ${result.ms} ms`);
    assert.equal(result.code, 1, result.stderr);
    assertOneLine(result, /^dbbackup backup: backup did not finish in time \(--timeout 3\).*\. no backup was stored/);
    await assertNothingHeld(db, tmp);
  });

  test('SIGTERM while the target stalls the pre-flight: the run stops within seconds, exit 143, nothing held', async () => {
    const tmp = await tempDir('stall-tmp');
    let child: ChildProcess | undefined;
    const running = cliWithin(['backup', '--source', pgUrl(db), '--target', 's3://stalled-bucket'], {
      env: { ...process.env, AWS_ENDPOINT_URL_S3: stalled.endpoint, DBBACKUP_TMPDIR: tmp },
      limitMs: 30_000,
      onStart: (c) => {
        child = c;
      },
    });
    await waitFor('the probe to hold its session', async () => (await sessionsOn(db)).length > 0);
    const signalled = Date.now();
    child?.kill('SIGTERM');
    const result = await running;
    assert.ok(!result.timedOut, `still running 30 s after SIGTERM: ${result.stderr}`);
    assert.ok(Date.now() - signalled < 5_000, `ended ${Date.now() - signalled} ms after SIGTERM`);
    assert.equal(result.code, 143, result.stderr);
    assertOneLine(result, /^dbbackup backup: backup cancelled \(SIGTERM\)/);
    await assertNothingHeld(db, tmp);
  });

  /** A pg_dump that dumps, says so in `marker`, then stays alive, so the backup is mid-stream with its upload open. */
  async function dumpThenWait(dir: string): Promise<string> {
    return pgDumpWrapperDir(`echo $$ > '${dir}/pid'; "$REAL" "$@"; echo dumped > '${dir}/marker'; exec sleep 60`);
  }

  test('cancelling a streaming backup aborts its multipart upload, stores nothing and releases the source', async () => {
    const dir = await tempDir('cancel');
    const bucket = await createBucket('cancel');
    const { client, sent } = observedS3Client();
    const controller = new AbortController();
    const backup = runBackup(
      { source: pgUrl(big), target: `s3://${bucket}`, compression: 'none' },
      {
        s3Client: client,
        signal: controller.signal,
        settings: readSettings({ ...process.env, DBBACKUP_PG_BIN_DIR: await dumpThenWait(dir) }),
      },
    );
    await waitFor('the dump to be written', () =>
      fs.stat(join(dir, 'marker')).then(
        () => true,
        () => false,
      ),
    );
    await waitFor('the multipart upload to start', () => sent.includes('UploadPartCommand'));
    controller.abort('SIGTERM');
    const cancelled = Date.now();
    await assert.rejects(
      backup,
      (error: Error) => error instanceof CancelledError && /cancelled \(SIGTERM\)/.test(error.message),
    );
    assert.ok(Date.now() - cancelled < 5_000);
    assert.ok(sent.includes('AbortMultipartUploadCommand'), `sent: ${sent.join(', ')}`);
    assert.ok(!sent.includes('CompleteMultipartUploadCommand'));
    await assertOnlyFailedRunRecord({ bucket }, { error: /cancelled \(SIGTERM\)/ });
    assert.deepEqual(await sessionsOn(big), []);
    assert.throws(() => process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 0), 'the dump process is gone');
  });

  /** Starts a backup of `big` through a proxy to S3 and waits until it is uploading with pg_dump done. */
  async function startStreamingBackup(extraArgs: string[] = []) {
    const dir = await tempDir('stuck');
    const tmp = await tempDir('stuck-tmp');
    const bucket = await createBucket('stuck');
    const proxy = await startFailingProxy(process.env.AWS_ENDPOINT_URL_S3 as string);
    let child: ChildProcess | undefined;
    const running = cliWithin(
      ['backup', '--source', pgUrl(big), '--target', `s3://${bucket}`, '--compression', 'none', ...extraArgs],
      {
        env: {
          ...process.env,
          AWS_ENDPOINT_URL_S3: proxy.endpoint,
          DBBACKUP_PG_BIN_DIR: await dumpThenWait(dir),
          DBBACKUP_TMPDIR: tmp,
        },
        limitMs: 60_000,
        onStart: (c) => {
          child = c;
        },
      },
    );
    await waitFor('the dump to be written', () =>
      fs.stat(join(dir, 'marker')).then(
        () => true,
        () => false,
      ),
    );
    await sleep(500);
    return { running, proxy, tmp, bucket, dir, signal: (name: NodeJS.Signals) => child?.kill(name) };
  }

  test('SIGTERM while S3 stops answering mid-upload: the cleanup that cannot reach S3 is cut short, and the process ends within seconds', async () => {
    const run = await startStreamingBackup();
    try {
      run.proxy.stall();
      const signalled = Date.now();
      run.signal('SIGTERM');
      const result = await run.running;
      assert.ok(!result.timedOut, `still running 60 s after SIGTERM: ${result.stderr}`);
      assert.ok(Date.now() - signalled < 15_000, `ended ${Date.now() - signalled} ms after SIGTERM`);
      assert.equal(result.code, 143, result.stderr);
      assert.match(result.stderr, /cancelled \(SIGTERM\)/);
      await assertNothingHeld(big, run.tmp);
      assert.deepEqual(await bucketKeys(run.bucket), []);
      assert.throws(() => process.kill(Number(readFileSync(join(run.dir, 'pid'), 'utf8')), 0), 'the dump process is gone');
    } finally {
      await run.proxy.stop();
    }
  });

  test('a second SIGTERM ends the process at once, whatever the cleanup is waiting for', async () => {
    const run = await startStreamingBackup();
    try {
      run.proxy.stall();
      run.signal('SIGTERM');
      await sleep(300);
      const second = Date.now();
      run.signal('SIGTERM');
      const result = await run.running;
      assert.ok(Date.now() - second < 2_000, `ended ${Date.now() - second} ms after the second SIGTERM`);
      assert.ok(result.code === 143, `exit ${result.code} (${result.signal}): ${result.stderr}`);
      await waitFor('the session to go with the process', async () => (await sessionsOn(big)).length === 0, 5_000);
    } finally {
      await run.proxy.stop();
    }
  });
});
