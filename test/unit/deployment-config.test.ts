import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../shared/errors.js';
import {
  healthConfigOf,
  loadDeploymentConfig,
  parseDeploymentConfig,
  parseHealthConfig,
  taskSize,
  tierSettings,
  type DeploymentConfig,
} from '../../shared/deployment/deployment-config.js';
import { RDS_CA_BUNDLE_PATH } from '../../shared/deployment/deployment-names.js';
import { tlsParameters } from '../../shared/deployment/database-url.js';
import { repoRoot, tempDir } from '../harness/test-env.js';

const base = {
  alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
  databases: [
    {
      name: 'warehouse',
      engine: 'postgres',
      host: 'db.internal',
      database: 'warehouse',
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:warehouse-AbCdEf',
      vpc: {
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
    },
  ],
};
const withDatabase = (fields: Record<string, unknown>) => ({ ...base, databases: [{ ...base.databases[0], ...fields }] });
const errorOf = (input: unknown): string => {
  try {
    parseDeploymentConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  return assert.fail('accepted');
};

describe('the deployment config', () => {
  test('the shipped example (with its comments) is valid, and defaults follow what users asked for', async () => {
    const config: DeploymentConfig = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
    const db = config.databases[0];
    assert.ok(db);
    assert.deepEqual(
      ['daily', 'weekly', 'monthly'].map((t) => tierSettings(db, t as 'daily')).map((s) => [s.keep, s.storageClass]),
      [
        [7, 'STANDARD'],
        [4, 'STANDARD_IA'],
        [12, 'GLACIER_IR'],
      ],
    );
    assert.equal(db.runner, 'lambda');
  });

  test('a config file may hold comments, and "//" inside a string is not one', async () => {
    const file = join(await tempDir('config'), 'dbbackup.config.json');
    const body = JSON.stringify({ ...base, $schema: 'https://example.com/dbbackup.schema.json' }, null, 2);
    await writeFile(file, `// the deployment\n/* block\n comment */\n${body.replace('{', '{ // opening\n')}\n`);
    const config = await loadDeploymentConfig(file);
    assert.equal(config.$schema, 'https://example.com/dbbackup.schema.json');
    assert.equal(config.databases[0]?.name, 'warehouse');
  });

  test('a config file that is not JSON is refused naming the file, line and column', async () => {
    const file = join(await tempDir('config'), 'dbbackup.config.json');
    // A trailing comma (comments are allowed, trailing commas are not): reported at the "}" after it, line 5.
    await writeFile(file, '{\n  // who gets the emails\n  "alerts": {\n    "sender": "backups@example.com",\n  }\n}\n');
    await assert.rejects(loadDeploymentConfig(file), (error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.equal(error.message, `${file}:5:3 is not valid JSON: property name expected`);
      return true;
    });
  });

  test('a Fargate task defaults to 2 vCPU and 4 GiB; memory follows cpu unless set', () => {
    const config = parseDeploymentConfig(withDatabase({ runner: 'fargate' }));
    assert.deepEqual(taskSize(config.databases[0] as never), { cpu: 2048, memoryMiB: 4096, ephemeralStorageGiB: 21 });
    const big = parseDeploymentConfig(withDatabase({ runner: 'fargate', task: { cpu: 8192, memoryMiB: 32768 } }));
    assert.deepEqual(taskSize(big.databases[0] as never), { cpu: 8192, memoryMiB: 32768, ephemeralStorageGiB: 21 });
  });

  test('errors name the field and the allowed values', () => {
    assert.match(
      errorOf(withDatabase({ runner: 'fargate', task: { cpu: 1024, memoryMiB: 16384 } })),
      /databases\.0\.task\.memoryMiB.*must be 2048-8192 in steps of 1024 with cpu 1024 \(got 16384\)/,
    );
    assert.match(
      errorOf(withDatabase({ runner: 'fargate', vpc: undefined })),
      /databases\.0\.vpc.*is required with runner "fargate"/,
    );
    assert.match(errorOf(withDatabase({ runner: 'ec2' })), /databases\.0\.runner/);
    assert.match(
      errorOf(withDatabase({ runner: 'fargate', task: { cpu: 3000 } })),
      /databases\.0\.task\.cpu: .*1024\|2048\|4096\|8192\|16384 \(got 3000\)/,
    );
    assert.match(errorOf({ ...base, timeZone: 'Mars/Olympus' }), /timeZone.*IANA time zone/);
  });
});

describe('TLS to a configured PostgreSQL database', () => {
  const tlsOf = (fields: Record<string, unknown>) => {
    const db = parseDeploymentConfig(withDatabase(fields)).databases[0];
    assert.ok(db?.engine === 'postgres');
    return tlsParameters(db);
  };
  const rds = 'school.c0abcdefghij.eu-west-1.rds.amazonaws.com';

  test('an RDS host is verified in full against the RDS CA bundle in the image unless the config says otherwise', () => {
    assert.deepEqual(tlsOf({ host: rds }), { sslmode: 'verify-full', sslrootcert: RDS_CA_BUNDLE_PATH });
    assert.deepEqual(tlsOf({ host: 'cluster-x.cluster-ro-c0abcdefghij.cn-north-1.rds.amazonaws.com.cn' }), {
      sslmode: 'verify-full',
      sslrootcert: RDS_CA_BUNDLE_PATH,
    });
    assert.deepEqual(tlsOf({ host: rds, sslmode: 'require' }), { sslmode: 'require', sslrootcert: RDS_CA_BUNDLE_PATH });
    assert.deepEqual(tlsOf({ host: rds, sslrootcert: '/var/task/own-ca.pem' }), {
      sslmode: 'verify-full',
      sslrootcert: '/var/task/own-ca.pem',
    });
  });

  test('any other host gets sslmode=require and no root certificate file, unless the config names them', () => {
    assert.deepEqual(tlsOf({}), { sslmode: 'require' });
    assert.deepEqual(tlsOf({ host: 'rds.amazonaws.com.example.org' }), { sslmode: 'require' });
    assert.deepEqual(tlsOf({ sslmode: 'verify-full', sslrootcert: 'system' }), { sslmode: 'verify-full', sslrootcert: 'system' });
  });
});

test('the health function’s config (names and schedules) of 200 databases fits a secret’s 64 KB, where the whole config would not', async () => {
  const example = await loadDeploymentConfig(join(repoRoot, 'dbbackup.config.example.json'));
  const [school] = example.databases;
  const config = parseDeploymentConfig({
    ...example,
    databases: Array.from({ length: 200 }, (_, i) => ({
      ...school,
      name: `tenant${i}`,
      schedules: { weekly: { hour: 4, enabled: false } },
    })),
  });
  const health = healthConfigOf(config);
  assert.ok(JSON.stringify(config).length > 65_536);
  assert.ok(JSON.stringify(health).length < 65_536 / 2, `${JSON.stringify(health).length} bytes`);
  const parsed = parseHealthConfig(JSON.parse(JSON.stringify(health)));
  assert.deepEqual(parsed.databases[0], {
    name: 'tenant0',
    schedules: { weekly: { hour: 4, minute: 0, enabled: false } },
    drill: false,
  });
  assert.equal(parsed.health.verifyNewest, 1);
});
