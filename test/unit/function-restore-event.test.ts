import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { ConfigError, formatErrorLine } from '../../shared/errors.js';
import {
  functionRestoreEventSchema,
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
