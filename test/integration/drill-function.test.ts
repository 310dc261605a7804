import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listRunRecords } from '../../shared/runs/run-record.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import { startSecretsServer } from '../harness/secrets-server.js';
import { sentEmails } from '../harness/ses-server.js';
import { createBucket, loadChinook, pgPassword, pgUrl, repoRoot, runAllowingFailure, sql } from '../harness/test-env.js';

const SCRATCH_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:scratch-AbCdEf';
const WRONG_SCRATCH_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:scratch-wrong-AbCdEf';

/** Runs the compiled drill handler in a child process, as the Lambda runtime would. */
async function invokeDrill(event: unknown, env: NodeJS.ProcessEnv) {
  const result = await runAllowingFailure(
    process.execPath,
    [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, 'dist/functions/drill.js'), JSON.stringify(event)],
    { env },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  const [kind, json] = [last.slice(0, last.indexOf(' ')), last.slice(last.indexOf(' ') + 1)];
  return { ...result, kind, value: JSON.parse(json || 'null') as Record<string, unknown> };
}

/** The DrillSucceeded value and dimensions a run published in the embedded metric format. */
function drillMetric(stdout: string): { value: unknown; dimensions: Record<string, unknown> } {
  const line = stdout.split('\n').find((l) => l.includes('"DrillSucceeded"'));
  assert.ok(line, `no DrillSucceeded in: ${stdout}`);
  const emf = JSON.parse(line) as Record<string, unknown> & { _aws: { CloudWatchMetrics: Array<{ Dimensions: string[][] }> } };
  const keys = emf._aws.CloudWatchMetrics[0]?.Dimensions[0] ?? [];
  return { value: emf.DrillSucceeded, dimensions: Object.fromEntries(keys.map((k) => [k, emf[k]])) };
}

describe('the drill function (compiled, in a child process)', () => {
  let db: string;
  let name: string;
  let bucket: string;
  let env: NodeJS.ProcessEnv;
  let stopSecrets: (() => Promise<void>) | undefined;

  before(async () => {
    [db, bucket] = await Promise.all([loadChinook(), createBucket('drill-fn')]);
    name = db.replace(/_/g, '-');
    await runBackup({ source: pgUrl(db), target: `s3://${bucket}`, name });
    const secrets = await startSecretsServer(() => ({
      [SCRATCH_ARN]: JSON.stringify({ username: 'postgres', password: pgPassword() }),
      [WRONG_SCRATCH_ARN]: JSON.stringify({ username: 'postgres', password: 'not-the-password' }),
    }));
    stopSecrets = () => secrets.stop();
    env = {
      ...process.env,
      DBBACKUP_BUCKET: bucket,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_REGION: 'us-east-1',
    };
  });

  // The stand-in's server would keep this test file's process alive, and the suite waiting on it.
  after(async () => {
    await stopSecrets?.();
  });

  const configFor = (scratchSecretArn: string) =>
    JSON.stringify({
      alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
      databases: [
        {
          name,
          engine: 'postgres',
          host: 'source-db.invalid',
          database: db,
          // The source's own secret is never read by a drill: it names nothing that exists.
          secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:never-read-AbCdEf',
          drill: {
            scratch: {
              host: '127.0.0.1',
              port: Number(new URL(pgUrl()).port),
              secretArn: scratchSecretArn,
              sslmode: 'disable',
            },
          },
        },
      ],
    });

  test('a scheduled drill restores the newest backup on the scratch server, drops it, records it and publishes DrillSucceeded 1', async () => {
    const result = await invokeDrill({ database: name }, { ...env, DBBACKUP_CONFIG: configFor(SCRATCH_ARN) });

    assert.equal(result.kind, 'RESULT', result.stdout + result.stderr);
    assert.equal(result.value.result, 'succeeded');
    assert.deepEqual(drillMetric(result.stdout), { value: 1, dimensions: { service: 'dbbackup', database: name } });
    assert.ok(!result.stdout.includes(pgPassword()) && !result.stderr.includes(pgPassword()), 'the password is never logged');
    const left = await sql('postgres', `select datname from pg_database where datname like 'dbbackup_drill_%'`);
    assert.deepEqual(
      left.filter((r) => String(r.datname).includes(db.slice(0, 16))),
      [],
    );
    const { records } = await listRunRecords(new S3Target(`s3://${bucket}`));
    // Beside the backup's own record, the drill's.
    assert.deepEqual(
      records.filter((r) => r.kind === 'drill').map((r) => [r.kind, r.database, r.result]),
      [['drill', name, 'succeeded']],
    );
  });

  test('a failed drill is emailed, fails the invocation and publishes DrillSucceeded 0', async () => {
    const result = await invokeDrill({ database: name }, { ...env, DBBACKUP_CONFIG: configFor(WRONG_SCRATCH_ARN) });

    assert.equal(result.kind, 'ERROR', result.stdout);
    assert.match(String(result.value.errorMessage), /refused the login of user "postgres"/);
    assert.deepEqual(drillMetric(result.stdout), { value: 0, dimensions: { service: 'dbbackup', database: name } });
    const mails = (await sentEmails()).filter((e) => e.subject.startsWith(`[dbbackup] DRILL FAILED ${name}: `));
    assert.equal(mails.length, 1, JSON.stringify((await sentEmails()).map((e) => e.subject)));
    assert.ok(!JSON.stringify(mails).includes('not-the-password'));
  });

  test('a database without a drill configured is refused by name', async () => {
    const config = JSON.parse(configFor(SCRATCH_ARN)) as { databases: Array<Record<string, unknown>> };
    delete config.databases[0]?.drill;
    const result = await invokeDrill({ database: name }, { ...env, DBBACKUP_CONFIG: JSON.stringify(config) });
    assert.equal(result.kind, 'ERROR');
    assert.match(String(result.value.errorMessage), /has no restore drill configured/);
  });
});
