import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { S3Client } from '@aws-sdk/client-s3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { ConfigError, DumpError } from '../../shared/errors.js';
import { listRunRecords, RUNS_PREFIX } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import type { Target } from '../../shared/targets/target.js';
import { toolVersion } from '../../shared/tool-version.js';
import {
  bucketKeys,
  cliWithin,
  createBucket,
  createDatabase,
  pgUrl,
  s3Client,
  sql,
  tempDir,
  treeOf,
} from '../harness/test-env.js';

/** A PostgreSQL URL nobody listens at, with a password that must never be recorded. */
const UNREACHABLE = 'postgres://app:run-record-secret@127.0.0.1:9/school';

describe('every backup run leaves a run record, failed or not', () => {
  let db: string;

  before(async () => {
    db = await createDatabase('runrec');
    await sql(db, 'create table t as select generate_series(1, 1000) as g');
  });

  const places: Array<{ name: string; open: () => Promise<{ url: string; target: Target; client?: S3Client }> }> = [
    {
      name: 's3rver',
      open: async () => {
        const url = `s3://${await createBucket('runrec')}/p`;
        const client = s3Client();
        return { url, client, target: await openTarget(url, { client }) };
      },
    },
    {
      name: 'a directory',
      open: async () => {
        const url = await tempDir('runrec');
        return { url, target: await openTarget(url) };
      },
    },
  ];

  for (const place of places) {
    test(`${place.name}: a successful backup records what it stored`, async () => {
      const { url, target, client } = await place.open();
      const manifest = await runBackup(
        { source: pgUrl(db), target: url, kind: 'scheduled', label: 'daily' },
        { s3Client: client },
      );
      const { records, problems } = await listRunRecords(target);
      assert.deepEqual(problems, []);
      assert.equal(records.length, 1);
      const [record] = records;
      assert.ok(record);
      assert.equal(record.result, 'succeeded');
      assert.equal(record.error, null);
      assert.equal(record.database, db);
      assert.equal(record.engine, 'postgres');
      assert.equal(record.kind, 'scheduled');
      assert.equal(record.tier, 'daily');
      assert.equal(record.stored_bytes, manifest.size_bytes);
      assert.equal(record.source_bytes, manifest.source_size_bytes);
      assert.equal(record.compression, 'gzip');
      assert.ok(record.compression_ratio && record.compression_ratio > 1);
      assert.ok(manifest.key.endsWith(record.backup_key ?? '-'), `${record.backup_key} is the stored backup ${manifest.key}`);
      assert.deepEqual(record.client_version, manifest.engine_version);
      assert.equal(record.tool_version, toolVersion());
      assert.ok(manifest.backup_file.includes(record.run_id), 'the record and the backup share the run id');
    });

    test(`${place.name}: a backup of an unreachable database records the failure, without the password`, async () => {
      const { url, target, client } = await place.open();
      let message = '';
      await assert.rejects(runBackup({ source: UNREACHABLE, target: url }, { s3Client: client }), (error: Error) => {
        message = error.message;
        return error instanceof DumpError;
      });
      const { records } = await listRunRecords(target);
      assert.equal(records.length, 1);
      const [record] = records;
      assert.ok(record);
      assert.equal(record.result, 'failed');
      assert.equal(record.database, 'school');
      assert.equal(record.engine, 'postgres');
      assert.equal(record.kind, 'manual');
      assert.ok(record.error?.startsWith(message), `${record.error} is the line the user read`);
      assert.equal(record.backup_key, null);
      assert.equal(record.stored_bytes, null);
      assert.doesNotMatch(JSON.stringify(record), /run-record-secret/);
    });
  }

  test('a bad-input failure before the target is opened leaves nothing', async () => {
    const dir = await tempDir('runrec-bad');
    await assert.rejects(runBackup({ source: pgUrl(db), target: dir, storageClass: 'GLACIER' }), ConfigError);
    assert.deepEqual(await treeOf(dir), []);
  });

  test('a run record that cannot be written is a warning, and the backup still succeeds', async () => {
    const bucket = await createBucket('runrec-refused');
    // A stand-in for a bucket policy that refuses runs/: s3rver has no policies.
    const client = s3Client();
    client.middlewareStack.add(
      (next) => async (args) => {
        if (String((args.input as { Key?: string }).Key ?? '').startsWith(RUNS_PREFIX))
          throw Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
        return next(args);
      },
      { step: 'initialize', name: 'refuseRunsForTest' },
    );
    const warnings: string[] = [];
    const manifest = await runBackup(
      { source: pgUrl(db), target: `s3://${bucket}` },
      { s3Client: client, onWarning: (w) => warnings.push(w) },
    );
    assert.equal(manifest.status, 'completed');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /^run record not written: .*access denied/i);
    assert.deepEqual(
      (await bucketKeys(bucket)).filter((k) => k.startsWith(RUNS_PREFIX)),
      [],
    );
  });

  test('the CLI: a failed backup to a directory leaves its record, and the error stays the one line', async () => {
    const dir = await tempDir('runrec-cli');
    const result = await cliWithin(['backup', '--source', UNREACHABLE, '--target', dir], { limitMs: 30_000 });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    const files = await treeOf(dir);
    assert.ok(
      files.every((f) => f.startsWith('runs')),
      `only the run record is stored: ${files.join(', ')}`,
    );
    const { records } = await listRunRecords(await openTarget(dir));
    assert.equal(records.length, 1);
    assert.equal(records[0]?.result, 'failed');
    // The record says it as the user read it, with the CLI's words.
    assert.ok(result.stderr.includes(records[0]?.error ?? '-'), `${records[0]?.error} in ${result.stderr}`);
  });

  after(async () => {
    if (db) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});
