import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startSecretsServer, type SecretsServer } from '../harness/secrets-server.js';
import { sentEmails, type StoredEmail } from '../harness/ses-server.js';
import { createBucket, createDatabase, pgPassword, repoRoot, runWithin, sql, startStalledServer } from '../harness/test-env.js';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alerts-db-AbCdEf';
const WRONG_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:alerts-wrong-AbCdEf';
const STACK = 'DbBackupAlerts';
/** The account in the function ARN the harness's Lambda context carries. */
const ACCOUNT = '123456789012';

/** Runs a compiled handler in a child process, as the Lambda runtime would; a hang fails the test. */
async function invoke(event: unknown, env: NodeJS.ProcessEnv, fn = 'backup', limitMs = 60_000) {
  const result = await runWithin(
    process.execPath,
    [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, `dist/functions/${fn}.js`), JSON.stringify(event)],
    { env, limitMs },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  const [kind, json] = [last.slice(0, last.indexOf(' ')), last.slice(last.indexOf(' ') + 1)];
  return { ...result, kind, value: JSON.parse(json || 'null') as Record<string, unknown> };
}

/** The emails sent during `work`, as the recipients' mailbox shows them. */
/** This file's database, in every email about it: other test files send alerts to the same SES stand-in meanwhile. */
let mine = (_mail: StoredEmail) => true;

async function mailsDuring(work: () => Promise<unknown>): Promise<StoredEmail[]> {
  const before = (await sentEmails()).length;
  await work();
  return (await sentEmails()).slice(before).filter(mine);
}

describe('alert emails an on-call engineer can act on (the functions, compiled, and the SES stand-in)', () => {
  let db: string;
  let name: string;
  let bucket: string;
  let secrets: SecretsServer;
  let env: (secretArn: string, onSuccess?: boolean) => NodeJS.ProcessEnv;

  before(async () => {
    db = await createDatabase('alerts');
    name = db.replace(/_/g, '-');
    mine = (mail) => `${mail.subject}\n${mail.body.text ?? ''}`.includes(name);
    await sql(
      db,
      'create table pupil (id int primary key, name text); insert into pupil select g, md5(g::text) from generate_series(1, 100) g',
    );
    bucket = await createBucket('alerts');
    secrets = await startSecretsServer(() => ({
      [SECRET_ARN]: JSON.stringify({ username: 'postgres', password: pgPassword() }),
      [WRONG_SECRET_ARN]: JSON.stringify({ username: 'postgres', password: 'not-the-password' }),
    }));
    const port = Number(new URL(process.env.DBBACKUP_TEST_PG_URL as string).port);
    env = (secretArn, onSuccess = false) => ({
      ...process.env,
      DBBACKUP_BUCKET: bucket,
      DBBACKUP_STACK_NAME: STACK,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_REGION: 'eu-west-1',
      DBBACKUP_CONFIG: JSON.stringify({
        alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'], onSuccess },
        databases: [{ name, engine: 'postgres', host: '127.0.0.1', port, database: db, secretArn, sslmode: 'disable' }],
      }),
    });
  });

  test('a failure names the deployment, the last good backup and its age ("none yet" before any), and the commands to run next', async () => {
    const [first] = await mailsDuring(() => invoke({ database: name, tier: 'weekly' }, env(WRONG_SECRET_ARN)));
    assert.ok(first, 'one email');
    const text = first.body.text ?? '';
    assert.match(text, new RegExp(`Deployment:\\s+stack ${STACK}, account ${ACCOUNT}, region eu-west-1`));
    assert.match(text, /Last good backup:\s+none yet/);
    assert.ok(text.includes(`dbbackup list --target s3://${bucket} --database ${name}`), text);
    assert.ok(text.includes(`dbbackup invoke backup --database ${name} --tier weekly --stack ${STACK}`), text);
    assert.match(
      first.body.html ?? '',
      /<a href="https:\/\/eu-west-1\.console\.aws\.amazon\.com\/cloudwatch\/[^"]*">open the log<\/a>/,
    );

    const ok = await invoke({ database: name, tier: 'weekly' }, env(SECRET_ARN));
    assert.equal(ok.kind, 'RESULT', ok.stdout + ok.stderr);
    const [second] = await mailsDuring(() => invoke({ database: name, tier: 'weekly' }, env(WRONG_SECRET_ARN)));
    assert.match(
      second?.body.text ?? '',
      new RegExp(`Last good backup:\\s+${String(ok.value.datetime).replace(/\./g, '\\.')} \\(\\d+ min ago\\): s3://${bucket}/`),
    );
  });

  test('a success says what the run checked, and never that the backup was verified', async () => {
    const mails = await mailsDuring(() => invoke({ database: name, tier: 'daily' }, env(SECRET_ARN, true)));
    assert.equal(mails.length, 1);
    const text = mails[0]?.body.text ?? '';
    assert.match(mails[0]?.subject ?? '', new RegExp(`^\\[dbbackup\\] ${name} daily backup completed: `));
    assert.match(
      text,
      /Checked:\s+the dump ran to its end without error \(written by pg_dump \(PostgreSQL\) \d+[^)]*\)\); stored size equals the \d+ bytes sent; SHA-256 recorded; row counts of 1 table recorded/,
    );
    assert.doesNotMatch(text + (mails[0]?.body.html ?? ''), /verified/i);
    assert.match(text, new RegExp(`Deployment:\\s+stack ${STACK}, account ${ACCOUNT}, region eu-west-1`));
  });

  test('after failed runs, one "recovered" email, even with success emails off, saying how many failed and since when', async () => {
    await invoke({ database: name, tier: 'daily' }, env(SECRET_ARN));
    const failing = await mailsDuring(async () => {
      await invoke({ database: name, tier: 'daily' }, env(WRONG_SECRET_ARN));
      await invoke({ database: name, tier: 'daily' }, env(WRONG_SECRET_ARN));
    });
    assert.equal(failing.length, 2, 'one email per failure');
    const recovered = await mailsDuring(() => invoke({ database: name, tier: 'daily' }, env(SECRET_ARN, false)));
    assert.equal(recovered.length, 1, JSON.stringify(recovered.map((m) => m.subject)));
    assert.equal(recovered[0]?.subject, `[dbbackup] RECOVERED ${name} daily backup after 2 failed runs`);
    assert.match(recovered[0]?.body.text ?? '', /Failed runs:\s+2 since \d{4}-\d\d-\d\dT/);
    const quiet = await mailsDuring(() => invoke({ database: name, tier: 'daily' }, env(SECRET_ARN, false)));
    assert.deepEqual(quiet, [], 'the next success is quiet again');
  });

  test('the alert function: a timed-out invocation is emailed once, with its request id and a log search for it', async () => {
    const event = {
      requestContext: {
        requestId: 'c0ffee00-1111-2222-3333-444455556666',
        functionArn: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:${STACK}-n0a1b2c-0-backup`,
        condition: 'RetriesExhausted',
      },
      requestPayload: { database: name, tier: 'weekly' },
      responsePayload: { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 900.00 seconds' },
    };
    const mails = await mailsDuring(() => invoke(event, env(SECRET_ARN), 'alert'));
    assert.equal(mails.length, 1);
    const text = mails[0]?.body.text ?? '';
    assert.match(text, /Request id:\s+c0ffee00-1111-2222-3333-444455556666/);
    assert.ok(
      text.includes(
        `log-group/$252Fdbbackup$252F${STACK}-n0a1b2c-0-backup/log-events$3FfilterPattern$3D$2522c0ffee00-1111-2222-3333-444455556666$2522`,
      ),
      text,
    );
    assert.match(text, new RegExp(`Deployment:\\s+stack ${STACK}, account ${ACCOUNT}, region eu-west-1`));
    assert.match(text, /Last good backup:\s+\S+ \(\d+ min ago\): s3:\/\//);
    assert.ok(text.includes(`dbbackup invoke backup --database ${name} --tier weekly --stack ${STACK}`), text);
  });

  test('a bucket that does not answer delays the email by at most a few seconds: the last good backup "could not be read"', async () => {
    const stalled = await startStalledServer();
    try {
      const before = (await sentEmails()).length;
      const started = Date.now();
      const running = invoke(
        {
          requestContext: { requestId: 'r-stalled', functionArn: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:f` },
          requestPayload: { database: name, tier: 'daily' },
          responsePayload: { errorType: 'Runtime.ExitError', errorMessage: 'exited' },
        },
        { ...env(SECRET_ARN), AWS_ENDPOINT_URL_S3: stalled.endpoint },
        'alert',
        60_000,
      );
      let mails: StoredEmail[] = [];
      while (mails.length === 0 && Date.now() - started < 30_000) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        mails = (await sentEmails()).slice(before).filter(mine);
      }
      // The email goes out once the listing's time is up; Lambda ends the invocation as the handler returns.
      assert.ok(Date.now() - started < 12_000, `the email came after ${Date.now() - started} ms`);
      await running;
      assert.equal(mails.length, 1);
      assert.match(mails[0]?.body.text ?? '', /Last good backup:\s+could not be read \(no answer within 5 s\)/);
    } finally {
      await stalled.stop();
    }
  });

  test('every value in the HTML email is escaped', async () => {
    const mails = await mailsDuring(() =>
      invoke(
        {
          requestContext: { requestId: '<b>r</b>', functionArn: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:f` },
          requestPayload: { database: name, tier: 'daily' },
          responsePayload: { errorMessage: '<script>alert("x")</script> & more' },
        },
        env(SECRET_ARN),
        'alert',
      ),
    );
    const html = mails[0]?.body.html ?? '';
    assert.ok(!html.includes('<script>') && !html.includes('<b>r</b>'), html);
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more'), html);
  });

  after(async () => {
    await secrets?.stop();
    if (db) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});
