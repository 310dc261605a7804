import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { CancelledError, StorageError } from '../../shared/errors.js';
import { readSettings } from '../../shared/settings.js';
import {
  assertOnlyFailedRunRecord,
  bucketKeys,
  cliOnSmallDisk,
  createBucket,
  createDatabase,
  pgUrl,
  s3Client,
  sampleCopy,
  sql,
  startFailingProxy,
  tempDir,
} from '../harness/test-env.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

/** Files apart from a run record: on a full disk the failed run's record may or may not fit. */
function apartFromRunRecords(files: string[]): string[] {
  return files.filter((f) => !/^(\.\/)?runs\/.*\.jsonl$/.test(f));
}

/** The error's one line, beside at most the warning that the run record could not be written (the disk is full). */
function assertErrorThenRecordWarning(stderr: string): void {
  const lines = stderr.trim().split('\n');
  const warnings = lines.filter((l) => /^warning: run record not written: /.test(l));
  assert.ok(warnings.length <= 1, stderr);
  assert.equal(lines.length - warnings.length, 1, stderr);
}

/**
 * An S3 client that fails the requests `refuse` picks as S3 does when a policy denies them: a
 * stand-in for a fault s3rver cannot produce on cue. `before` runs first, for a test that
 * acts at exactly that request.
 */
function refusing(refuse: (command: string, key: string) => boolean, before?: (command: string) => void): S3Client {
  const client = s3Client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      before?.(command);
      if (refuse(command, String((args.input as { Key?: string }).Key ?? ''))) {
        throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      }
      return next(args);
    },
    { step: 'initialize', name: 'refuseForTest' },
  );
  return client;
}

describe('a backup that fails after its data is stored leaves nothing at its keys', () => {
  let db: string;

  before(async () => {
    db = await createDatabase('commit');
    await sql(db, 'create table t as select generate_series(1, 1000) as g');
  });

  test('S3 refuses the SHA-256 tag: the data object is removed', async () => {
    const bucket = await createBucket('commit');
    const client = refusing((command) => command === 'PutObjectTaggingCommand');
    await assert.rejects(
      runBackup({ source: pgUrl(db), target: `s3://${bucket}/p` }, { s3Client: client }),
      (error: Error) => error instanceof StorageError && /tagging .* access denied/.test(error.message),
    );
    await assertOnlyFailedRunRecord({ bucket }, { prefix: 'p/', error: /tagging .* access denied/ });
  });

  test('S3 refuses the manifest: the data object is removed', async () => {
    const bucket = await createBucket('commit');
    const client = refusing((command, key) => command === 'PutObjectCommand' && key.endsWith('.json'));
    await assert.rejects(runBackup({ source: pgUrl(db), target: `s3://${bucket}` }, { s3Client: client }), StorageError);
    await assertOnlyFailedRunRecord({ bucket }, { error: /access denied/ });
  });

  test('cancelled while committing: nothing stays, and the manifest never names missing data', async () => {
    const bucket = await createBucket('commit');
    const controller = new AbortController();
    const client = refusing(
      () => false,
      (command) => command === 'PutObjectTaggingCommand' && controller.abort('SIGINT'),
    );
    await assert.rejects(
      runBackup({ source: pgUrl(db), target: `s3://${bucket}` }, { s3Client: client, signal: controller.signal }),
      CancelledError,
    );
    await assertOnlyFailedRunRecord({ bucket });
  });

  test('the disk fills between the data and its manifest: the data file is removed, and the message says the disk is full', async () => {
    const disk = await tempDir('full-inodes');
    // Inodes for: the root, sqlite/chinook/<year>, and the data file with its link; none for the manifest's.
    const result = await cliOnSmallDisk(
      disk,
      { sizeBytes: 64 << 20, inodes: 6 },
      ['backup', '--source', chinook, '--target', disk],
      {
        limitMs: 30_000,
      },
    );
    assert.equal(result.code, 1, result.stderr);
    assertErrorThenRecordWarning(result.stderr);
    assert.match(result.stderr, /\.json failed: ENOSPC: no space left on device\. the disk is full/);
    assert.deepEqual(apartFromRunRecords(result.left), [], 'no file but the run record is left on the disk');
  });

  after(async () => {
    if (db) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});

describe('a failed backup says what failed first', () => {
  test('a full disk while streaming: ENOSPC, not "the operation was aborted", with or without --debug', async () => {
    for (const debug of [[], ['--debug']]) {
      const disk = await tempDir('full');
      const result = await cliOnSmallDisk(
        disk,
        { sizeBytes: 256 << 10 },
        ['backup', '--source', chinook, '--target', disk, '--compression', 'none', ...debug],
        { limitMs: 30_000 },
      );
      assert.equal(result.code, 1, result.stderr);
      const first = result.stderr.split('\n').find((l) => !l.startsWith('warning: ')) ?? '';
      assert.match(first, /^dbbackup backup: writing .* failed: ENOSPC: no space left on device\. the disk is full/);
      assert.doesNotMatch(result.stderr, /operation was aborted/i);
      if (debug.length === 0) assertErrorThenRecordWarning(result.stderr);
      assert.deepEqual(apartFromRunRecords(result.left), []);
    }
  });

  test('a full temp dir while SQLite takes its snapshot: the full disk is named, and the snapshot is removed', async () => {
    const disk = await tempDir('full-tmp');
    const out = await tempDir('full-tmp-out');
    const result = await cliOnSmallDisk(disk, { sizeBytes: 256 << 10 }, ['backup', '--source', chinook, '--target', out], {
      env: { ...process.env, DBBACKUP_TMPDIR: disk },
      limitMs: 30_000,
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /disk is full|no space left on device/i);
    assert.deepEqual(result.left, []);
    await assertOnlyFailedRunRecord({ dir: out }, { error: /disk is full|no space left on device/i });
  });

  test('an S3 endpoint that dies mid-upload: the connection error is named', async () => {
    const db = await createDatabase('dies');
    await sql(
      db,
      `create table filler as select g, md5(g::text) || repeat(md5((g * 7)::text), 6) as t from generate_series(1, 150000) g`,
    );
    const bucket = await createBucket('dies');
    const proxy = await startFailingProxy(process.env.AWS_ENDPOINT_URL_S3 as string);
    try {
      const settings = readSettings({ ...process.env, AWS_ENDPOINT_URL_S3: proxy.endpoint });
      let reset = false;
      await assert.rejects(
        runBackup(
          { source: pgUrl(db), target: `s3://${bucket}`, compression: 'none' },
          {
            settings,
            onProgress: (p) => {
              if (!reset && p.storedBytes > 12 << 20) {
                reset = true;
                proxy.reset();
              }
            },
          },
        ),
        (error: Error) =>
          error instanceof StorageError && /ECONNRESET|ECONNREFUSED/.test(error.message) && !/aborted/i.test(error.message),
      );
      assert.ok(reset);
      assert.deepEqual(await bucketKeys(bucket), []);
    } finally {
      await proxy.stop();
      await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    }
  });
});
