import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretsManagerCredentials } from '../../shared/deployment/fetch-credentials.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import { startSecretsServer, type SecretsServer } from '../harness/secrets-server.js';
import { sentEmails } from '../harness/ses-server.js';
import {
  createBucket,
  fixturesDir,
  loadChinook,
  pgPassword,
  repoRoot,
  runAllowingFailure,
  runWithin,
  sessionsOn,
  sql,
  startStalledServer,
  waitFor,
} from '../harness/test-env.js';
import { REPORTED_FAILURE_EXIT_CODE } from '../../shared/deployment/backup-task.js';
import { FUNCTION_TIME_MARGIN_MS } from '../../shared/deployment/run-scheduled-backup.js';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:school-db-AbCdEf';
const WRONG_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:wrong-password-AbCdEf';

/** Runs a compiled handler (what the image holds) in a child process, as the Lambda runtime would. */
async function invoke(event: unknown, env: NodeJS.ProcessEnv, fn = 'backup') {
  const result = await runAllowingFailure(
    process.execPath,
    [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, `dist/functions/${fn}.js`), JSON.stringify(event)],
    { env },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  const [kind, json] = [last.slice(0, last.indexOf(' ')), last.slice(last.indexOf(' ') + 1)];
  return { ...result, kind, value: JSON.parse(json || 'null') as Record<string, unknown> };
}

/** Invokes a handler like invoke(), within a time limit: a hang fails the test instead of stalling it. */
async function invokeWithin(event: unknown, env: NodeJS.ProcessEnv, limitMs: number) {
  const result = await runWithin(
    process.execPath,
    [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, 'dist/functions/backup.js'), JSON.stringify(event)],
    { env, limitMs },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  const [kind, json] = [last.slice(0, last.indexOf(' ')), last.slice(last.indexOf(' ') + 1)];
  return { ...result, kind, value: JSON.parse(json || 'null') as Record<string, unknown> };
}

/** The metrics a run published in the embedded metric format (its stdout), by name, with their dimensions. */
function publishedMetrics(stdout: string): { namespace: string; names: string[]; dimensions: Record<string, string> } {
  const line = stdout.split('\n').find((l) => l.includes('"CloudWatchMetrics"'));
  assert.ok(line, `no EMF line in: ${stdout}`);
  const emf = JSON.parse(line) as Record<string, unknown> & {
    _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
  };
  const [directive] = emf._aws.CloudWatchMetrics;
  const keys = directive?.Dimensions[0] ?? [];
  return {
    namespace: String(directive?.Namespace),
    names: (directive?.Metrics ?? []).map((m) => m.Name).sort(),
    dimensions: Object.fromEntries(keys.map((k) => [k, String(emf[k])])),
  };
}

/** What every successful run publishes, in the Lambda function and the Fargate task alike. */
const SUCCESS_METRICS = ['BackupDuration', 'BackupSucceeded', 'CompressionRatio', 'SourceBytes', 'StoredBytes'];

/** Runs the compiled Fargate entry point in a child process, as the container's command would. */
function runTask(env: NodeJS.ProcessEnv) {
  return runAllowingFailure(process.execPath, [join(repoRoot, 'dist/functions/backup-task.js')], { env });
}

/**
 * A stand-in for the ECS task metadata endpoint (v4) a Fargate container reads: there is no
 * local ECS; it answers the one request the backup task makes, with its ARN and log stream.
 */
async function startTaskMetadata(taskId: string): Promise<{ endpoint: string; stop(): void }> {
  const server = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(
      JSON.stringify({
        Name: 'backup',
        Labels: { 'com.amazonaws.ecs.task-arn': `arn:aws:ecs:us-east-1:123456789012:task/dbbackup/${taskId}` },
        LogDriver: 'awslogs',
        LogOptions: {
          'awslogs-group': '/dbbackup/tasks',
          'awslogs-region': 'us-east-1',
          'awslogs-stream': `backup/backup/${taskId}`,
        },
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}/v4/container`, stop: () => server.close() };
}

const KMS_KEY_ARN = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';

/** An object creation as the bucket saw it: its key and the encryption it asked for. */
interface ObservedCreation {
  readonly key: string;
  readonly sse: string | undefined;
  readonly kmsKeyId: string | undefined;
}

/**
 * The backup bucket's DenyOtherEncryption rule in front of s3rver (which enforces none): an object
 * creation (PutObject, CreateMultipartUpload) that asks for another encryption than `required` is
 * refused with 403, as S3 would; one that asks for none gets the bucket's default. Every creation
 * is recorded with its headers, which a child process's requests can be observed by.
 */
async function startEncryptionRule(
  upstream: URL,
  required: string,
): Promise<{ endpoint: string; creations: ObservedCreation[]; stop(): void }> {
  const creations: ObservedCreation[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://proxy');
    const isCreation =
      (request.method === 'PUT' && !url.searchParams.has('partNumber') && !url.searchParams.has('tagging')) ||
      (request.method === 'POST' && url.searchParams.has('uploads'));
    const sse = request.headers['x-amz-server-side-encryption'] as string | undefined;
    if (isCreation) {
      // Path-style: /bucket/key…
      const key = decodeURIComponent(url.pathname.split('/').slice(2).join('/'));
      creations.push({
        key,
        sse,
        kmsKeyId: request.headers['x-amz-server-side-encryption-aws-kms-key-id'] as string | undefined,
      });
      if (sse !== undefined && sse !== required) {
        request.resume();
        response.writeHead(403, { 'content-type': 'application/xml' });
        response.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>',
        );
        return;
      }
    }
    const forwarded = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { endpoint: `http://127.0.0.1:${port}`, creations, stop: () => server.close() };
}

describe('the functions and the Fargate backup task (compiled, in a child process)', () => {
  let db: string;
  // Other test files send alerts to the same SES stand-in meanwhile: only mails about this file's database count.
  const aboutThisFile = (mail: { subject: string; body: { text?: string } }) =>
    `${mail.subject}\n${mail.body.text ?? ''}`.includes(db.replace(/_/g, '-'));
  let bucket: string;
  let secrets: SecretsServer;
  let baseEnv: NodeJS.ProcessEnv;
  const pgPort = () => Number(new URL(process.env.DBBACKUP_TEST_PG_URL as string).port);

  before(async () => {
    [db, bucket] = await Promise.all([loadChinook(), createBucket('fn')]);
    secrets = await startSecretsServer(() => ({
      [SECRET_ARN]: JSON.stringify({ username: 'postgres', password: pgPassword(), engine: 'postgres' }),
      [WRONG_SECRET_ARN]: JSON.stringify({ username: 'postgres', password: 'not-the-password' }),
    }));
    baseEnv = {
      ...process.env,
      DBBACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_REGION: 'us-east-1',
    };
  });

  const configFor = (secretArn: string, onSuccess: boolean) =>
    JSON.stringify({
      alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'], onSuccess },
      databases: [
        {
          name: db.replace(/_/g, '-'),
          engine: 'postgres',
          host: '127.0.0.1',
          port: pgPort(),
          database: db,
          secretArn,
          // The test server has one superuser: the restore secret names the same login.
          restoreSecretArn: secretArn,
          sslmode: 'disable',
        },
      ],
    });

  test('a scheduled event backs up the database with the tier storage class, returns the manifest, and emits metrics; no email unless enabled', async () => {
    const name = db.replace(/_/g, '-');
    const result = await invoke(
      { database: name, tier: 'weekly' },
      // The namespace the stack sets: its own per deployment (dbbackup/<stack>).
      { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, false), DBBACKUP_METRIC_NAMESPACE: 'dbbackup/Blue' },
    );
    assert.equal(result.kind, 'RESULT', result.stdout + result.stderr);
    assert.equal(result.value.database, name);
    assert.equal(result.value.storage_class, 'STANDARD_IA');
    assert.equal(result.value.kind, 'scheduled');
    assert.equal(result.value.label, 'weekly');
    assert.match(result.stdout, /"_aws":\{"Timestamp":\d+,"CloudWatchMetrics":\[\{"Namespace":"dbbackup\/Blue"/);
    assert.match(result.stdout, /"BackupSucceeded":1/);
    assert.deepEqual(publishedMetrics(result.stdout), {
      namespace: 'dbbackup/Blue',
      names: SUCCESS_METRICS,
      dimensions: { service: 'dbbackup', database: name, tier: 'weekly' },
    });
    assert.ok(!result.stdout.includes(pgPassword()) && !result.stderr.includes(pgPassword()), 'the password is never logged');
    const { backups } = await listBackups(new S3Target(`s3://${bucket}`), { database: name });
    assert.equal(backups.length, 1);
    assert.deepEqual(
      (await sentEmails()).filter((e) => e.subject.includes(name)),
      [],
    );
  });

  test('with success emails enabled, a completed backup sends one summary', async () => {
    const name = db.replace(/_/g, '-');
    const result = await invoke({ database: name, tier: 'daily' }, { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, true) });
    assert.equal(result.kind, 'RESULT', result.stdout);
    const mails = (await sentEmails()).filter((e) => e.subject.includes(`${name} daily backup completed`));
    assert.equal(mails.length, 1);
    assert.ok(mails[0]?.body.text?.includes(String(result.value.hash)));
  });

  test('a failed backup sends one email whose subject and body carry the error, and the invocation fails with it', async () => {
    const name = db.replace(/_/g, '-');
    const result = await invoke(
      { database: name, tier: 'monthly' },
      { ...baseEnv, DBBACKUP_CONFIG: configFor(WRONG_SECRET_ARN, false) },
    );
    assert.equal(result.kind, 'ERROR', result.stdout);
    assert.match(String(result.value.errorMessage), /refused the login of user "postgres"/);
    const mails = (await sentEmails()).filter((e) =>
      e.subject.startsWith(`[dbbackup] FAILED ${name} monthly backup: PostgreSQL refused the login`),
    );
    assert.equal(mails.length, 1, JSON.stringify((await sentEmails()).map((e) => e.subject)));
    assert.deepEqual(mails[0]?.destination.to, ['ops@example.com']);
    assert.match(mails[0]?.body.text ?? '', /Error:\s+PostgreSQL refused the login/);
    assert.match(mails[0]?.body.html ?? '', /open the log</);
    assert.ok(!JSON.stringify(mails).includes('not-the-password'));
  });

  test('an unreachable SES endpoint does not hide the backup failure', async () => {
    const name = db.replace(/_/g, '-');
    const result = await invoke(
      { database: name, tier: 'daily' },
      { ...baseEnv, DBBACKUP_CONFIG: configFor(WRONG_SECRET_ARN, false), AWS_ENDPOINT_URL_SESV2: 'http://127.0.0.1:9' },
    );
    assert.equal(result.kind, 'ERROR');
    assert.match(String(result.value.errorMessage), /refused the login/);
    // The function's log is stdout and stderr, where Powertools writes ERROR lines.
    assert.match(result.stdout + result.stderr, /"message":"alert failed"/);
  });

  test('an unreachable SES endpoint does not hide a successful backup', async () => {
    const name = db.replace(/_/g, '-');
    const result = await invoke(
      { database: name, tier: 'daily' },
      { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, true), AWS_ENDPOINT_URL_SESV2: 'http://127.0.0.1:9' },
    );
    assert.equal(result.kind, 'RESULT', result.stdout);
    assert.match(result.stdout + result.stderr, /"message":"alert failed"/);
  });

  test('an alert that cannot be sent is logged at ERROR and counted as AlertFailed, for the alarm that watches it', async () => {
    const name = db.replace(/_/g, '-');
    const result = await invoke(
      { database: name, tier: 'daily' },
      { ...baseEnv, DBBACKUP_CONFIG: configFor(WRONG_SECRET_ARN, false), AWS_ENDPOINT_URL_SESV2: 'http://127.0.0.1:9' },
    );
    const failed = result.stderr.split('\n').find((line) => line.includes('"message":"alert failed"'));
    assert.match(failed ?? '', /"level":"ERROR"/, result.stdout);
    const emf = result.stdout
      .split('\n')
      .filter((line) => line.includes('"CloudWatchMetrics"'))
      .map(
        (line) =>
          JSON.parse(line) as Record<string, unknown> & {
            _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
          },
      )
      .find((line) => line._aws.CloudWatchMetrics[0]?.Metrics.some((m) => m.Name === 'AlertFailed'));
    assert.ok(emf, `no AlertFailed metric in: ${result.stdout}`);
    assert.deepEqual(emf._aws.CloudWatchMetrics[0]?.Dimensions, [['service']]);
  });

  test('an unknown database in the event fails with the configured names; a missing variable fails the cold start by name', async () => {
    const unknown = await invoke({ database: 'nope' }, { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, false) });
    assert.equal(unknown.kind, 'ERROR');
    assert.match(String(unknown.value.errorMessage), /no database named "nope" in this deployment\. configured: /);
    const env: NodeJS.ProcessEnv = { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, false) };
    delete env.DBBACKUP_BUCKET;
    const cold = await invoke({ database: 'x' }, env);
    assert.match(String(cold.value.errorMessage), /^Environment variable DBBACKUP_BUCKET is required$/);
  });

  test('the restore function refuses two backups at once, naming its event fields where the CLI names flags', async () => {
    const env = { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, false) };
    const event = { database: db.replace(/_/g, '-'), latest: true, file: 'backup_school_20261121_230000.dump.gz' };
    const refused = await invoke(event, env, 'restore');
    assert.equal(refused.kind, 'ERROR');
    assert.equal(
      refused.value.errorMessage,
      'choose exactly one of "latest": true, "file": "<backup file name>" and "path": "s3://…"',
    );
  });

  test('the restore function refuses without "confirm", saying what it would replace; with it, restores the latest backup exactly', async () => {
    const name = db.replace(/_/g, '-');
    const env = { ...baseEnv, DBBACKUP_CONFIG: configFor(SECRET_ARN, false) };
    await invoke({ database: name, tier: 'daily' }, env);
    await sql(db, 'create table added_later (x int); delete from invoice_line');

    const refused = await invoke({ database: name, latest: true }, env, 'restore');
    assert.equal(refused.kind, 'ERROR');
    assert.match(
      String(refused.value.errorMessage),
      new RegExp(`restore would replace database "${db}" at postgres://postgres@127\\.0\\.0\\.1:\\d+/${db}.*"confirm": "${db}"`),
    );
    assert.ok(!String(refused.value.errorMessage).includes('--confirm'), 'the function names its event field, not the CLI flag');
    assert.equal((await sql(db, "select to_regclass('added_later') as t"))[0]?.t, 'added_later', 'nothing changed');

    const restored = await invoke({ database: name, latest: true, confirm: db }, env, 'restore');
    assert.equal(restored.kind, 'RESULT', restored.stdout);
    assert.equal(restored.value.restored, true);
    assert.match(String(restored.value.safetyBackup), /^s3:\/\//);
    assert.equal((await sql(db, "select to_regclass('added_later') as t"))[0]?.t, null);
    assert.equal(Number((await sql(db, 'select count(*) as n from invoice_line'))[0]?.n), 2240);
  });

  test("with the stack's KMS key, the restore function's safety copy carries the encryption the bucket requires, so an in-place restore succeeds", async () => {
    const name = db.replace(/_/g, '-');
    const bucketRule = await startEncryptionRule(new URL(baseEnv.AWS_ENDPOINT_URL_S3 as string), 'aws:kms');
    try {
      const env = {
        ...baseEnv,
        AWS_ENDPOINT_URL_S3: bucketRule.endpoint,
        DBBACKUP_KMS_KEY_ID: KMS_KEY_ARN,
        DBBACKUP_CONFIG: configFor(SECRET_ARN, false),
      };
      const backup = await invoke({ database: name, tier: 'daily' }, env);
      assert.equal(backup.kind, 'RESULT', backup.stdout + backup.stderr);
      await sql(db, 'create table added_before_kms_restore (x int)');

      const restored = await invoke({ database: name, latest: true, confirm: db }, env, 'restore');
      assert.equal(restored.kind, 'RESULT', restored.stdout + restored.stderr);
      assert.match(String(restored.value.safetyBackup), new RegExp(`^s3://${bucket}/pre-restore/`));
      const safetyWrites = bucketRule.creations.filter((c) => c.key.startsWith('pre-restore/'));
      assert.ok(safetyWrites.length > 0, 'the safety copy was written');
      for (const write of safetyWrites) {
        assert.equal(write.sse, 'aws:kms', `${write.key} asks for the bucket's encryption`);
        assert.equal(write.kmsKeyId, KMS_KEY_ARN, `${write.key} names the stack's key`);
      }
      assert.equal((await sql(db, "select to_regclass('added_before_kms_restore') as t"))[0]?.t, null);
    } finally {
      bucketRule.stop();
    }
  });

  test('the Fargate task backs up the event in DBBACKUP_EVENT with the same metrics, and exits 0', async () => {
    const name = db.replace(/_/g, '-');
    const metadata = await startTaskMetadata('0a1b2c3d4e5f');
    const keysBefore = new Set((await listBackups(new S3Target(`s3://${bucket}`), { database: name })).backups.map((b) => b.key));
    try {
      const result = await runTask({
        ...baseEnv,
        DBBACKUP_CONFIG: configFor(SECRET_ARN, false),
        DBBACKUP_EVENT: JSON.stringify({ database: name, tier: 'weekly' }),
        ECS_CONTAINER_METADATA_URI_V4: metadata.endpoint,
        DBBACKUP_METRIC_NAMESPACE: 'dbbackup/Blue',
      });
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, /"message":"backup completed"/);
      assert.match(result.stdout, /"runId":"0a1b2c3d4e5f"/);
      assert.match(result.stdout, /"BackupSucceeded":1/);
      assert.match(result.stdout, /"Dimensions":\[\["service","database","tier"\]\]/);
      assert.deepEqual(publishedMetrics(result.stdout), {
        namespace: 'dbbackup/Blue',
        names: SUCCESS_METRICS,
        dimensions: { service: 'dbbackup', database: name, tier: 'weekly' },
      });
      const { backups } = await listBackups(new S3Target(`s3://${bucket}`), { database: name });
      const added = backups.filter((b) => !keysBefore.has(b.key));
      assert.equal(added.length, 1);
      assert.equal(added[0]?.manifest.label, 'weekly');
      assert.equal(added[0]?.manifest.storage_class, 'STANDARD_IA');
    } finally {
      metadata.stop();
    }
  });

  test('a failed Fargate task emails once, with a link to its log stream, and exits 100 so the alert function stays quiet', async () => {
    const name = db.replace(/_/g, '-');
    const metadata = await startTaskMetadata('9f8e7d6c5b4a');
    const before = (await sentEmails()).length;
    try {
      const result = await runTask({
        ...baseEnv,
        DBBACKUP_CONFIG: configFor(WRONG_SECRET_ARN, false),
        DBBACKUP_EVENT: JSON.stringify({ database: name, tier: 'weekly' }),
        ECS_CONTAINER_METADATA_URI_V4: metadata.endpoint,
      });
      assert.equal(result.code, REPORTED_FAILURE_EXIT_CODE, result.stdout + result.stderr);
      assert.match(result.stdout, /"BackupFailed":1/);
      const mails = (await sentEmails()).slice(before).filter(aboutThisFile);
      assert.equal(mails.length, 1, JSON.stringify(mails.map((m) => m.subject)));
      assert.match(
        mails[0]?.subject ?? '',
        new RegExp(`^\\[dbbackup\\] FAILED ${name} weekly backup: PostgreSQL refused the login`),
      );
      assert.match(mails[0]?.body.text ?? '', /9f8e7d6c5b4a/);
      assert.match(
        mails[0]?.body.text ?? '',
        /log-group\/\$252Fdbbackup\$252Ftasks\/log-events\/backup\$252Fbackup\$252F9f8e7d6c5b4a/,
      );
    } finally {
      metadata.stop();
    }
  });

  test('a Fargate task started with a bad event emails what is wrong with it, and exits 100', async () => {
    const name = db.replace(/_/g, '-');
    const before = (await sentEmails()).length;
    const result = await runTask({
      ...baseEnv,
      DBBACKUP_CONFIG: configFor(SECRET_ARN, false),
      DBBACKUP_EVENT: JSON.stringify({ database: name, tier: 'hourly' }),
    });
    assert.equal(result.code, REPORTED_FAILURE_EXIT_CODE, result.stdout + result.stderr);
    const mails = (await sentEmails()).slice(before).filter(aboutThisFile);
    assert.equal(mails.length, 1);
    assert.match(mails[0]?.subject ?? '', new RegExp(`^\\[dbbackup\\] FAILED ${name} hourly backup: tier: `));
  });

  test('the alert function emails a backup task that was killed (once, with its log link) and ignores tasks that succeeded or reported', async () => {
    const stopped = JSON.parse(readFileSync(join(fixturesDir, 'events/ecs-task-stopped.json'), 'utf8')) as {
      detail: { containers: Array<Record<string, unknown>> };
    };
    const env = {
      ...baseEnv,
      DBBACKUP_CONFIG: configFor(SECRET_ARN, false),
      // One log group for every backup task (the stack's), each task in its own stream.
      DBBACKUP_TASK_LOG_GROUP: '/dbbackup/warehouse',
    };
    const exiting = (exitCode: number) => ({
      ...stopped,
      detail: { ...stopped.detail, containers: [{ ...stopped.detail.containers[0], exitCode }] },
    });
    const before = (await sentEmails()).length;
    for (const quiet of [exiting(0), exiting(REPORTED_FAILURE_EXIT_CODE)]) {
      const result = await invoke(quiet, env, 'alert');
      assert.equal(result.kind, 'RESULT', result.stdout + result.stderr);
    }
    // The fixture's task backs up "warehouse": mails about it, whatever other test files send meanwhile.
    const aboutWarehouse = (mail: { subject: string }) => mail.subject.includes(' warehouse ');
    assert.deepEqual(
      (await sentEmails()).slice(before).filter(aboutWarehouse),
      [],
      'no email for a task that succeeded or already reported',
    );

    const killed = await invoke(stopped, env, 'alert');
    assert.equal(killed.kind, 'RESULT', killed.stdout + killed.stderr);
    assert.match(killed.stdout, /"BackupFailed":1/);
    const mails = (await sentEmails()).slice(before).filter(aboutWarehouse);
    assert.equal(mails.length, 1);
    assert.match(
      mails[0]?.subject ?? '',
      /^\[dbbackup\] FAILED warehouse weekly backup: the backup container exited with code 137/,
    );
    assert.match(mails[0]?.body.text ?? '', /OutOfMemoryError/);
    assert.match(
      mails[0]?.body.text ?? '',
      /\$252Fdbbackup\$252Fwarehouse\/log-events\/backup\$252Fbackup\$252F4f5c3c3e0b0e4b1d9c7e2f0a1b2c3d4e/,
    );
  });

  test('a failed backup invocation handed to the alert function (on-failure destination) is not emailed a second time', async () => {
    const name = db.replace(/_/g, '-');
    const env = { ...baseEnv, DBBACKUP_CONFIG: configFor(WRONG_SECRET_ARN, false) };
    const before = (await sentEmails()).length;
    const failed = await invoke({ database: name, tier: 'daily' }, env);
    assert.equal(failed.kind, 'ERROR');
    // What Lambda sends the destination: the request, and the error the runtime reported.
    const destinationEvent = (responsePayload: unknown) => ({
      requestContext: {
        requestId: 'r-1',
        functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:b',
        condition: 'RetriesExhausted',
      },
      requestPayload: { database: name, tier: 'daily' },
      responsePayload,
    });
    await invoke(destinationEvent(failed.value), env, 'alert');
    assert.equal((await sentEmails()).length - before, 1, 'the backup function emailed; the alert function did not again');

    // When the backup's own email could not be sent, the alert function tries.
    const unsent = await invoke({ database: name, tier: 'daily' }, { ...env, AWS_ENDPOINT_URL_SESV2: 'http://127.0.0.1:9' });
    assert.equal(unsent.kind, 'ERROR');
    await invoke(destinationEvent(unsent.value), env, 'alert');
    const mails = (await sentEmails()).slice(before).filter(aboutThisFile);
    assert.equal(mails.length, 2);
    assert.match(
      mails[1]?.subject ?? '',
      new RegExp(`^\\[dbbackup\\] FAILED ${name} daily backup: PostgreSQL refused the login`),
    );
  });

  test('a backup function about to run out of time stops first: it cleans up, emails why, and fails the invocation', async () => {
    const name = db.replace(/_/g, '-');
    const stalled = await startStalledServer();
    const before = (await sentEmails()).length;
    try {
      const result = await invokeWithin(
        { database: name, tier: 'daily' },
        {
          ...baseEnv,
          DBBACKUP_CONFIG: configFor(SECRET_ARN, false),
          AWS_ENDPOINT_URL_S3: stalled.endpoint,
          DBBACKUP_TEST_LAMBDA_TIMEOUT_MS: String(FUNCTION_TIME_MARGIN_MS + 3_000),
        },
        FUNCTION_TIME_MARGIN_MS + 30_000,
      );
      assert.ok(!result.timedOut, `still running: ${result.stdout}${result.stderr}`);
      assert.ok(result.ms < 3_000 + FUNCTION_TIME_MARGIN_MS, `took ${result.ms} ms`);
      assert.equal(result.kind, 'ERROR', result.stdout);
      assert.match(String(result.value.errorMessage), /did not finish in time \(the function's time limit/);
      const mails = (await sentEmails()).slice(before).filter(aboutThisFile);
      assert.equal(mails.length, 1);
      assert.match(
        mails[0]?.subject ?? '',
        new RegExp(`^\\[dbbackup\\] FAILED ${name} daily backup: backup did not finish in time`),
      );
      assert.deepEqual(await sessionsOn(db), []);
    } finally {
      await stalled.stop();
    }
  });

  const fargateConfig = (timeoutMinutes?: number) => {
    const config = JSON.parse(configFor(SECRET_ARN, false)) as { databases: Array<Record<string, unknown>> };
    Object.assign(config.databases[0] as object, {
      runner: 'fargate',
      vpc: { vpcId: 'vpc-1', subnetIds: ['subnet-1'], securityGroupIds: ['sg-1'] },
      ...(timeoutMinutes ? { task: { timeoutMinutes } } : {}),
    });
    return JSON.stringify(config);
  };

  test('a Fargate task past its configured timeout stops, cleans up, emails why and exits 100', async () => {
    const name = db.replace(/_/g, '-');
    const stalled = await startStalledServer();
    const before = (await sentEmails()).length;
    try {
      const result = await runWithin(process.execPath, [join(repoRoot, 'dist/functions/backup-task.js')], {
        env: {
          ...baseEnv,
          DBBACKUP_CONFIG: fargateConfig(0.05),
          DBBACKUP_EVENT: JSON.stringify({ database: name, tier: 'daily' }),
          AWS_ENDPOINT_URL_S3: stalled.endpoint,
        },
        limitMs: 60_000,
      });
      assert.ok(!result.timedOut && result.ms < 15_000, `took ${result.ms} ms (timed out: ${result.timedOut})`);
      assert.equal(result.code, REPORTED_FAILURE_EXIT_CODE, result.stdout + result.stderr);
      const mails = (await sentEmails()).slice(before).filter(aboutThisFile);
      assert.equal(mails.length, 1);
      assert.match(mails[0]?.subject ?? '', /did not finish in time \(the task's timeout of 0\.05 minutes/);
      assert.deepEqual(await sessionsOn(db), []);
    } finally {
      await stalled.stop();
    }
  });

  test('a Fargate task stopped by ECS (SIGTERM) cleans up, emails why and exits 100 before the SIGKILL would come', async () => {
    const name = db.replace(/_/g, '-');
    const stalled = await startStalledServer();
    const before = (await sentEmails()).length;
    let task: import('node:child_process').ChildProcess | undefined;
    try {
      const running = runWithin(process.execPath, [join(repoRoot, 'dist/functions/backup-task.js')], {
        env: {
          ...baseEnv,
          DBBACKUP_CONFIG: fargateConfig(),
          DBBACKUP_EVENT: JSON.stringify({ database: name, tier: 'weekly' }),
          AWS_ENDPOINT_URL_S3: stalled.endpoint,
        },
        limitMs: 60_000,
        onStart: (child) => {
          task = child;
        },
      });
      await waitFor('the task to hold its session', async () => (await sessionsOn(db)).length > 0);
      const signalled = Date.now();
      task?.kill('SIGTERM');
      const result = await running;
      // ECS waits 30 s (the task's stopTimeout) before its SIGKILL.
      assert.ok(Date.now() - signalled < 15_000, `ended ${Date.now() - signalled} ms after SIGTERM`);
      assert.equal(result.code, REPORTED_FAILURE_EXIT_CODE, result.stdout + result.stderr);
      const mails = (await sentEmails()).slice(before).filter(aboutThisFile);
      assert.equal(mails.length, 1);
      assert.match(mails[0]?.subject ?? '', /cancelled \(SIGTERM\)/);
      assert.deepEqual(await sessionsOn(db), []);
    } finally {
      await stalled.stop();
    }
  });

  test('credentials are read from Secrets Manager once per process (a cold start); a failed read is retried', async () => {
    const client = new SecretsManagerClient({ endpoint: secrets.endpoint, region: 'us-east-1' });
    const credentials = secretsManagerCredentials(client);
    const start = secrets.requests;
    const [first, second] = [await credentials(SECRET_ARN), await credentials(SECRET_ARN)];
    assert.deepEqual(first, { username: 'postgres', password: pgPassword() });
    assert.deepEqual(second, first);
    assert.equal(secrets.requests - start, 1);
    const missing = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf';
    await assert.rejects(credentials(missing), /cannot read secret .*missing-AbCdEf: ResourceNotFoundException/);
    await assert.rejects(credentials(missing));
    assert.equal(secrets.requests - start, 3, 'the failed read was not cached');
  });

  after(async () => {
    await secrets?.stop();
    if (db) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});
