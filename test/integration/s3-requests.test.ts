import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { parseDeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { runScheduledBackup } from '../../shared/deployment/run-scheduled-backup.js';
import { createBucket, createDatabase, observedS3Client, pgPassword, pgUrl, sql } from '../harness/test-env.js';
import { readSettings } from '../../shared/settings.js';

describe('the S3 requests of a backup', () => {
  test('one backup checks its two keys are free, writes conditionally and reads the stored size back once: at most 3 HeadObject calls', async () => {
    const db = await createDatabase('requests');
    await sql(db, 'create table t as select g from generate_series(1, 1000) g');
    const target = `s3://${await createBucket('requests')}/prod`;
    const { client, sent } = observedS3Client();

    await runBackup({ source: pgUrl(db), target }, { s3Client: client });

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
      'PutObjectCommand', // the run's record under runs/, once the run has ended
    ]);
    await sql('postgres', `drop database "${db}" with (force)`);
  });

  test("a backup that is given no encryption asks for none (the bucket's default applies) and records the encryption S3 says it applied", async () => {
    const db = await createDatabase('sse');
    await sql(db, 'create table t as select g from generate_series(1, 1000) g');
    const target = `s3://${await createBucket('sse')}/prod`;
    const { client } = observedS3Client();
    const asked: Array<string | undefined> = [];
    const key = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { ServerSideEncryption?: string };
        const creates = ['PutObjectCommand', 'CreateMultipartUploadCommand'].includes(String(context.commandName));
        if (creates) asked.push(input.ServerSideEncryption);
        const result = await next(args);
        // What S3 answers a write into a bucket whose default is its KMS key (s3rver answers nothing).
        if (creates) Object.assign(result.output as object, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: key });
        return result;
      },
      { step: 'initialize', name: 'bucketDefaultIsKms' },
    );

    const manifest = await runBackup({ source: pgUrl(db), target }, { s3Client: client });

    assert.deepEqual(
      asked,
      [undefined, undefined, undefined],
      'neither the dump, the manifest nor the run record asks for an encryption',
    );
    assert.equal(manifest.sse, 'aws:kms');
    assert.equal(manifest.kms_key_id, key);
    await sql('postgres', `drop database "${db}" with (force)`);
  });

  test('scheduled backups in one warm function reuse the S3 client it holds', async () => {
    const db = await createDatabase('warm');
    await sql(db, 'create table t as select g from generate_series(1, 1000) g');
    const bucket = await createBucket('warm');
    const { client, sent } = observedS3Client();
    const deps = {
      config: parseDeploymentConfig({
        alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
        databases: [
          {
            name: 'warm',
            engine: 'postgres',
            host: '127.0.0.1',
            port: Number(new URL(pgUrl()).port),
            database: db,
            secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:warm-AbCdEf',
            sslmode: 'disable',
          },
        ],
      }),
      bucket,
      s3Client: client,
      settings: readSettings(process.env),
      credentials: async () => ({ username: 'postgres', password: pgPassword() }),
      notifier: { description: 'nobody', send: async () => {} },
      runId: 'warm',
      log: () => {},
    };

    const first = await runScheduledBackup({ database: 'warm', tier: 'daily' }, deps);
    const second = await runScheduledBackup({ database: 'warm', tier: 'daily' }, deps);

    assert.notEqual(second.key, first.key);
    // Each backup seals its object and writes its manifest through the client it was given.
    assert.equal(sent.filter((command) => command === 'PutObjectTaggingCommand').length, 2);
    // Each: its dump, its manifest and its run record.
    assert.equal(sent.filter((command) => command === 'PutObjectCommand').length, 6);
    await sql('postgres', `drop database "${db}" with (force)`);
  });
});
