import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { ConfigError, formatErrorLine } from '../../shared/errors.js';
import {
  functionRestoreEventSchema,
  loggableRestoreEvent,
  restoreEventWording,
  runFunctionRestore,
} from '../../shared/deployment/run-function-restore.js';

const config = parseDeploymentConfig({
  alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
  databases: [
    {
      name: 'school',
      engine: 'postgres',
      host: 'db.internal',
      database: 'school',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:school-AbCdEf',
    },
  ],
});
const deps = {
  config,
  bucket: 'backups',
  credentials: () => assert.fail('a refused event reads no secret'),
};

test('a restore event must choose exactly one backup, in the event’s own words, before anything is read', async () => {
  for (const choice of [
    {},
    { latest: true, file: 'backup_school_20261121_230000.dump.gz' },
    { latest: true, path: 's3://b/k' },
  ]) {
    await assert.rejects(
      runFunctionRestore({ database: 'school', confirm: 'school', ...choice }, deps),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^choose exactly one of "latest": true, "file": .* and "path": /.test(error.message) &&
        !/--[a-z]/.test(formatErrorLine(error)),
    );
  }
});

test('what a restore event cannot set is named as the deployment setting that decides it; what it can, as its field', () => {
  assert.equal(restoreEventWording.setting('noManifest'), '"noManifest": true');
  assert.equal(restoreEventWording.option('target'), "the deployment's bucket");
  assert.ok(functionRestoreEventSchema.safeParse({ database: 'school', path: 's3://b/k.dump.gz', noManifest: true }).success);
});

const RESTORE_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:school-restore-AbCdEf';

test('the restore function connects to the configured database with its restore secret, never the backup’s', async () => {
  const read: string[] = [];
  const withRestoreSecret = parseDeploymentConfig({
    alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
    databases: [{ ...config.databases[0], restoreSecretArn: RESTORE_SECRET }],
  });
  const stopped = new Error('stopped after the secret was read');
  await assert.rejects(
    runFunctionRestore(
      { database: 'school', latest: true, confirm: 'school' },
      {
        ...deps,
        config: withRestoreSecret,
        credentials: (arn: string) => {
          read.push(arn);
          return Promise.reject(stopped);
        },
      },
    ),
    (error: unknown) => error === stopped,
  );
  assert.deepEqual(read, [RESTORE_SECRET]);
});

test('without a restore secret, the restore function refuses the configured database as destination, naming the setting, and reads no secret', async () => {
  await assert.rejects(
    runFunctionRestore({ database: 'school', latest: true, confirm: 'school' }, deps),
    (error: unknown) =>
      error instanceof ConfigError &&
      /database school has no "restoreSecretArn"/.test(formatErrorLine(error)) &&
      /"to"/.test(formatErrorLine(error)),
  );
});

test('the restore event as logged holds no password, whatever field carries it', () => {
  const logged = JSON.stringify(
    loggableRestoreEvent({
      database: 'school',
      latest: true,
      to: 'postgres://owner:s3cr3t-pw@db.internal:5432/school?sslmode=require&password=s3cr3t-pw',
      path: 's3://backups/postgres/school/x.dump.gz',
      confirm: 'school',
      unexpected: 'postgres://u:s3cr3t-pw@h/db',
      nested: { to: 's3cr3t-pw' },
    }),
  );
  assert.ok(!logged.includes('s3cr3t-pw'), logged);
  assert.match(logged, /"database":"school"/);
  for (const field of Object.keys(functionRestoreEventSchema.shape))
    assert.ok(!JSON.stringify(loggableRestoreEvent({ [field]: 'postgres://u:s3cr3t-pw@h/db' })).includes('s3cr3t-pw'), field);
});
