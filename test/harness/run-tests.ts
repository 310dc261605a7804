/**
 * `npm test`: starts the real services the suite talks to (a PostgreSQL cluster and an S3
 * server, and aws-ses-v2-local for alert emails), runs every test file with Node's test runner against them, and tears both down
 * afterwards, whether the tests pass, fail or are interrupted.
 *
 * `npm test -- postgres` runs only the test files whose path contains "postgres".
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgresCluster } from './postgres-cluster.js';
import { S3RVER_CREDENTIALS, startS3Server } from './s3-server.js';
import { startSesServer } from './ses-server.js';

const testRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const filters = process.argv.slice(2);

const files = (await fs.readdir(testRoot, { recursive: true }))
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => join(testRoot, f))
  .filter((f) => filters.length === 0 || filters.some((pattern) => relative(testRoot, f).includes(pattern)))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no test files match ${filters.join(' ')}\n`);
  process.exit(1);
}

const started = Date.now();
const [postgres, s3, ses] = await Promise.all([startPostgresCluster(), startS3Server(), startSesServer()]);
process.stderr.write(
  `harness: PostgreSQL on 127.0.0.1:${postgres.port} (${postgres.binDir}), s3rver at ${s3.endpoint}, SES at ${ses.endpoint}, ready in ${Date.now() - started} ms\n`,
);

let stopping: Promise<void> | undefined;
const stopServices = () => (stopping ??= Promise.all([postgres.stop(), s3.stop(), ses.stop()]).then(() => {}));

const env: NodeJS.ProcessEnv = {
  ...process.env,
  DBBACKUP_TEST_PG_URL: postgres.url,
  DBBACKUP_TEST_PG_BIN_DIR: postgres.binDir,
  AWS_ENDPOINT_URL_S3: s3.endpoint,
  AWS_ENDPOINT_URL_SESV2: ses.endpoint,
  AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // s3rver stores corrupt bytes for streamed bodies sent with SDK checksums (see S3TargetOptions.checksums).
  AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
};
delete env.AWS_PROFILE;
delete env.AWS_SESSION_TOKEN;

const child = spawn(process.execPath, ['--test', '--test-concurrency=2', ...files], { env, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    child.kill(signal);
  });
}
const code: number = await new Promise((resolve) => child.on('close', (c, s) => resolve(c ?? (s ? 1 : 0))));
await stopServices();
process.exit(code);
