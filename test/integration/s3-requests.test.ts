import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import { createBucket, createDatabase, observedS3Client, pgUrl, sql } from '../harness/test-env.js';

describe('the S3 requests of a backup', () => {
  test('one backup checks its two keys are free, writes conditionally and reads the stored size back once: at most 3 HeadObject calls', async () => {
    const db = await createDatabase('requests');
    await sql(db, 'create table t as select g from generate_series(1, 1000) g');
    const target = `s3://${await createBucket('requests')}/prod`;
    const { client, sent } = observedS3Client();

    await runBackup({ source: pgUrl(db), target }, { target: new S3Target(target, { client }) });

    const heads = sent.filter((command) => command === 'HeadObjectCommand').length;
    assert.ok(heads <= 3, `${heads} HeadObject calls: ${sent.join(', ')}`);
    assert.deepEqual(sent, [
      'HeadBucketCommand', // preflight: the bucket exists and can be reached
      'HeadObjectCommand', // the backup's key is free
      'HeadObjectCommand', // and so is its manifest's
      'PutObjectCommand', // the dump, in one part (it is small), If-None-Match: *
      'HeadObjectCommand', // seal: the stored size is the size sent
      'PutObjectTaggingCommand', // seal: the SHA-256 as a tag
      'PutObjectCommand', // the manifest, last, If-None-Match: *
    ]);
    await sql('postgres', `drop database "${db}" with (force)`);
  });
});
