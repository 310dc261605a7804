/**
 * `npm run test:image`: builds the container image (the Dockerfile, as `cdk deploy` would) from
 * locally made Debian bases, then runs it as Lambda and Fargate run it:
 *
 * - every bundled `pg_dump`, `pg_restore` and `psql` prints its `--version`;
 * - the backup and restore handlers answer events through the Lambda Runtime API protocol, spoken by
 *   the image's own entry point and runtime interface client to a stand-in Runtime API on the host
 *   (runtime-api-stand-in.ts: only Lambda has the real one);
 * - the Fargate entry point backs up the event it is given;
 *
 * each with the root filesystem read-only except /tmp, as a non-root user, against the harness's
 * PostgreSQL, s3rver, SES stand-in and Secrets Manager stand-in. Every container it starts carries
 * its run's label and is removed at the end, also after a failure or SIGINT.
 *
 * Environment: DBBACKUP_MATRIX_CACHE (default /var/cache/dbbackup-matrix) for the Debian bases and
 * the stand-in RDS CA; DBBACKUP_IMAGE_TAG (default dbbackup:image-test).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import { type PostgresCluster, startPostgresCluster } from '../harness/postgres-cluster.js';
import { S3RVER_CREDENTIALS, type S3Server, startS3Server } from '../harness/s3-server.js';
import { type SecretsServer, startSecretsServer } from '../harness/secrets-server.js';
import { type SesServer, startSesServer } from '../harness/ses-server.js';
import { cli, createBucket, loadChinook, repoRoot, runWithin, sql, type TimedRun } from '../harness/test-env.js';
import { MATRIX_CACHE as CACHE, serverBinDir } from '../matrix/server-packages.js';
import { startRuntimeApiStandIn } from './runtime-api-stand-in.js';
import { ENVIRONMENT } from '../../shared/deployment/deployment-names.js';

const IMAGE = process.env.DBBACKUP_IMAGE_TAG ?? 'dbbackup:image-test';
const RUN_LABEL = `dbbackup-image-test=${process.pid}-${randomBytes(3).toString('hex')}`;
/** The Dockerfile's base build arguments and the Debian suite each is made from (make-debian-base.sh). */
const BASES = { BASE_IMAGE: 'forky', PG13_BASE_IMAGE: 'bullseye', PG15_BASE_IMAGE: 'bookworm', PG17_BASE_IMAGE: 'trixie' };
/** The client majors the image bundles, as the Dockerfile's DBBACKUP_PG_BIN_DIR lists them. */
const BUNDLED_MAJORS = [18, 17, 15, 13];
/** Lambda's function user (sbx_user1051) and group: the image must not need root. */
const LAMBDA_USER = '993:990';
/** What the Secrets Manager stand-in serves: database credentials and the functions' config secrets. */
const secretValues: Record<string, string> = {};
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:image-test-db-AbCdEf';
/** The matrix's server majors (test/matrix/server-packages.ts); the harness's own server is Debian's 15. */
const OTHER_SERVER_MAJORS = [13, 14, 16, 17, 18];
/** An RDS-shaped host name the containers resolve to the harness's PostgreSQL (docker --add-host). */
const RDS_HOST = 'image-test.c0abcdefghij.us-east-1.rds.amazonaws.com';

/** Removes every container this run started, once; called at the end and on SIGINT/SIGTERM. */
async function removeContainers(): Promise<void> {
  const listed = await runWithin('docker', ['ps', '-aq', '--filter', `label=${RUN_LABEL}`], { limitMs: 30_000 });
  const ids = listed.stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await runWithin('docker', ['rm', '-f', ...ids], { limitMs: 60_000 });
}
// Without Docker nothing here can run: one line, and a non-zero exit.
const docker = await runWithin('docker', ['info', '--format', '{{.ServerVersion}}'], { limitMs: 20_000 }).catch(() => undefined);
if (docker?.code !== 0) {
  process.stderr.write(
    `image test: ${docker ? 'no Docker daemon answers (start dockerd)' : 'no docker command (apt-get install docker.io)'}\n`,
  );
  process.exit(2);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`image test: ${signal}, removing its containers\n`);
    void removeContainers().finally(() => process.exit(130));
  });
}

/** Runs a command within a limit and fails with its output when it exits non-zero. */
async function must(command: string, args: string[], limitMs: number, env?: NodeJS.ProcessEnv): Promise<TimedRun> {
  const result = await runWithin(command, args, { limitMs, env });
  if (result.code !== 0 || result.timedOut) {
    const why = result.timedOut ? `still running after ${limitMs} ms` : `exit ${result.code}`;
    throw new Error(
      `${command} ${args.slice(0, 3).join(' ')} …: ${why}\n${(result.stdout + result.stderr).trim().split('\n').slice(-30).join('\n')}`,
    );
  }
  return result;
}

/**
 * The stand-in for the RDS CA bundle (this machine cannot reach truststore.pki.rds.amazonaws.com):
 * a private CA made once and kept in the cache, so that a rebuild finds the image's layers cached,
 * and the server certificate it signs for the harness's PostgreSQL.
 */
async function standInRdsCa(): Promise<{ dir: string; bundle: string }> {
  const dir = join(CACHE, 'image-test-ca');
  const bundle = join(dir, 'global-bundle.pem');
  try {
    await fs.access(bundle);
    return { dir, bundle };
  } catch {}
  const work = await fs.mkdtemp(join(CACHE, 'image-test-ca.'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await must(
    'openssl',
    [
      'req',
      '-x509',
      ...ec,
      '-days',
      '3650',
      '-keyout',
      join(work, 'ca.key'),
      '-out',
      join(work, 'global-bundle.pem'),
      '-subj',
      '/CN=dbbackup image test stand-in RDS CA',
    ],
    30_000,
  );
  await fs.writeFile(join(work, 'server.ext'), `subjectAltName=DNS:${RDS_HOST},IP:127.0.0.1\n`);
  await must(
    'openssl',
    ['req', '-new', ...ec, '-keyout', join(work, 'server.key'), '-out', join(work, 'server.csr'), '-subj', `/CN=${RDS_HOST}`],
    30_000,
  );
  await must(
    'openssl',
    [
      'x509',
      '-req',
      '-in',
      join(work, 'server.csr'),
      '-CA',
      join(work, 'global-bundle.pem'),
      '-CAkey',
      join(work, 'ca.key'),
      '-CAcreateserial',
      '-days',
      '3650',
      '-extfile',
      join(work, 'server.ext'),
      '-out',
      join(work, 'server.crt'),
    ],
    30_000,
  );
  await fs.rename(work, dir).catch(async (error: NodeJS.ErrnoException) => {
    // Another run made it first: use theirs.
    await fs.rm(work, { recursive: true, force: true });
    if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
  });
  return { dir, bundle };
}

/** Serves one file over HTTP on 127.0.0.1, as the RDS trust store serves its bundle. */
async function serveFile(file: string): Promise<{ url: string; stop(): void }> {
  const body = await fs.readFile(file);
  const server = createServer((_request, response) => response.end(body));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/global/global-bundle.pem`, stop: () => server.close() };
}

/**
 * The CA certificates this machine added to its trust store (Debian keeps them in
 * /usr/local/share/ca-certificates: a TLS-inspecting proxy's, say), for the build stage to reach the
 * npm registry as this machine does; DBBACKUP_BUILD_CA_CERTS names another PEM file.
 */
async function buildCaCertificates(): Promise<string> {
  const named = process.env.DBBACKUP_BUILD_CA_CERTS;
  if (named) return fs.readFile(named, 'utf8');
  const dir = '/usr/local/share/ca-certificates';
  const files = (await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])).filter((f) => f.endsWith('.crt'));
  return (await Promise.all(files.sort().map((f) => fs.readFile(join(dir, f), 'utf8')))).join('\n');
}

/** Makes the bases (cached) and builds the image; returns how long the build took. */
async function buildImage(caBundle: string): Promise<number> {
  for (const suite of new Set(Object.values(BASES))) {
    await must(join(repoRoot, 'test/matrix/make-debian-base.sh'), [suite], 1_800_000);
  }
  const ca = await serveFile(caBundle);
  const started = Date.now();
  try {
    const args = ['build', '--force-rm', '--network', 'host', '-t', IMAGE, '--build-arg', `RDS_CA_BUNDLE_URL=${ca.url}`];
    const extraCas = await buildCaCertificates();
    if (extraCas) args.push('--build-arg', `BUILD_EXTRA_CA_CERTS=${extraCas}`);
    for (const [arg, suite] of Object.entries(BASES)) args.push('--build-arg', `${arg}=dbbackup-base:${suite}`);
    await must('docker', [...args, repoRoot], 3_600_000);
  } finally {
    ca.stop();
  }
  return Date.now() - started;
}

/**
 * What a container needs to reach the harness: the stand-ins' endpoints, S3 credentials (s3rver's
 * fixed ones), the region. Passed in an env file, never as `-e NAME=value` on a command line.
 */
interface Services {
  readonly postgres: PostgresCluster;
  readonly s3: S3Server;
  readonly ses: SesServer;
  readonly secrets: SecretsServer;
}

function serviceEnvironment(services: Services): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_S3: services.s3.endpoint,
    AWS_ENDPOINT_URL_SESV2: services.ses.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: services.secrets.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    // s3rver stores corrupt bytes for streamed bodies sent with SDK checksums (see S3TargetOptions.checksums).
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
  };
}

/**
 * The deployment config and bucket of one database, as the stack provisions them for a function or
 * task: the config in a Secrets Manager secret (here the stand-in's) named by DBBACKUP_CONFIG_SECRET,
 * read at every run (shared/deployment/runtime-config.ts), and DBBACKUP_BUCKET.
 */
function provisionDeployment(database: Record<string, unknown>, bucket: string): Record<string, string> {
  const config = {
    alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'], onSuccess: false },
    // The test server has one login: the restore function's secret (its own in a deployment) names the same.
    databases: [database.secretArn ? { restoreSecretArn: database.secretArn, ...database } : database],
  };
  const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:image-test-config-${String(database.name)}-AbCdEf`;
  secretValues[arn] = JSON.stringify(config);
  return { [ENVIRONMENT.configSecret]: arn, [ENVIRONMENT.bucket]: bucket };
}

/** Writes an env file (mode 0600) in a temp dir and returns its path. */
async function envFile(dir: string, env: Record<string, string>): Promise<string> {
  const file = join(dir, `env-${randomBytes(4).toString('hex')}`);
  await fs.writeFile(
    file,
    Object.entries(env)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
    { mode: 0o600 },
  );
  return file;
}

/** `docker run` options every container of this test gets: Lambda's constraints and the cleanup label. */
function lambdaLikeOptions(file: string): string[] {
  return [
    '--label',
    RUN_LABEL,
    '--network',
    'host',
    '--add-host',
    `${RDS_HOST}:127.0.0.1`,
    '--read-only',
    '--tmpfs',
    '/tmp:rw,size=512m',
    '--user',
    LAMBDA_USER,
    '--env-file',
    file,
  ];
}

describe(`the container image (${IMAGE})`, () => {
  let work: string;
  let services: Services;
  let db: string;
  let bucket: string;
  let rdsCa: { dir: string; bundle: string };

  before(async () => {
    work = await fs.mkdtemp(join(tmpdir(), 'dbbackup-image-test-'));
    rdsCa = await standInRdsCa();
    const build = buildImage(rdsCa.bundle);
    const [postgres, s3, ses] = await Promise.all([startPostgresCluster(), startS3Server(), startSesServer()]);
    secretValues[SECRET_ARN] = JSON.stringify({ username: 'postgres', password: postgres.password, engine: 'postgres' });
    const secrets = await startSecretsServer(() => secretValues);
    services = { postgres, s3, ses, secrets };
    // The harness's helpers (sql, createBucket, loadChinook) read these.
    Object.assign(
      process.env,
      { DBBACKUP_TEST_PG_URL: postgres.url, DBBACKUP_TEST_PG_BIN_DIR: postgres.binDir },
      serviceEnvironment(services),
    );
    [db, bucket] = await Promise.all([loadChinook(), createBucket('image')]);
    const ms = await build;
    const size = await must('docker', ['image', 'inspect', '--format', '{{.Size}}', IMAGE], 30_000);
    process.stdout.write(`# image ${IMAGE} built in ${(ms / 1000).toFixed(0)} s, ${(Number(size.stdout) / 1e6).toFixed(0)} MB\n`);
  });

  after(async () => {
    await removeContainers();
    await Promise.all([services?.postgres.stop(), services?.s3.stop(), services?.ses.stop(), services?.secrets.stop()]);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  const database = (extra: Record<string, unknown> = {}) => ({
    name: db.replace(/_/g, '-'),
    engine: 'postgres',
    host: '127.0.0.1',
    port: services.postgres.port,
    database: db,
    secretArn: SECRET_ARN,
    sslmode: 'disable',
    ...extra,
  });

  /** Starts the image as a Lambda function with `handler`, sends it each event in turn through the Runtime API stand-in, and stops it. */
  async function asLambda(handler: string, events: unknown[], env: Record<string, string>) {
    const runtime = await startRuntimeApiStandIn();
    const file = await envFile(work, {
      ...serviceEnvironment(services),
      ...env,
      AWS_LAMBDA_RUNTIME_API: runtime.address,
      AWS_LAMBDA_FUNCTION_NAME: 'dbbackup-image-test',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '3584',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/dbbackup-image-test',
      AWS_LAMBDA_LOG_STREAM_NAME: '2026/11/22/[$LATEST]0123456789abcdef',
    });
    const name = `dbbackup-image-test-${randomBytes(4).toString('hex')}`;
    const container = runWithin('docker', ['run', '--rm', '--name', name, ...lambdaLikeOptions(file), IMAGE, handler], {
      limitMs: 900_000,
    });
    try {
      const answers = [];
      for (const event of events) answers.push(await runtime.invoke(event, 600_000));
      return { answers, requests: runtime.requests };
    } finally {
      await runWithin('docker', ['rm', '-f', name], { limitMs: 60_000 });
      const output = await container;
      process.stdout.write(
        `# ${handler} container output (last lines):\n${output.stdout
          .split('\n')
          .slice(-6)
          .map((l) => `#   ${l.slice(0, 300)}`)
          .join('\n')}\n`,
      );
      await runtime.stop();
    }
  }

  test('every bundled pg_dump, pg_restore and psql runs in the image, read-only and not as root', async () => {
    const file = await envFile(work, {});
    const versions: string[] = [];
    for (const major of BUNDLED_MAJORS) {
      for (const program of ['pg_dump', 'pg_restore', 'psql']) {
        const path = `/usr/lib/postgresql/${major}/bin/${program}`;
        const result = await must(
          'docker',
          ['run', '--rm', ...lambdaLikeOptions(file), '--entrypoint', path, IMAGE, '--version'],
          60_000,
        );
        assert.match(result.stdout, new RegExp(`^${program} \\(PostgreSQL\\) ${major}\\.`), path);
        versions.push(result.stdout.trim());
      }
    }
    const node = await must(
      'docker',
      ['run', '--rm', ...lambdaLikeOptions(file), '--entrypoint', '/var/lang/bin/node', IMAGE, '--version'],
      60_000,
    );
    process.stdout.write(`# ${versions.join('\n# ')}\n# node ${node.stdout.trim()}\n`);
    assert.match(node.stdout, /^v(22|24)\./, 'Node.js 22 or 24 (20 is past its Lambda deprecation)');
  });

  test('the backup handler backs up through the Lambda Runtime API, and the restore handler restores it', async () => {
    const deployment = provisionDeployment(database(), bucket);
    const name = db.replace(/_/g, '-');
    const backup = await asLambda('dist/functions/backup.handler', [{ database: name, tier: 'daily' }], deployment);
    const [answer] = backup.answers;
    assert.equal(answer?.kind, 'response', JSON.stringify(answer));
    assert.equal(answer?.body.database, name);
    assert.match(
      String((answer?.body.engine_version as { pg_dump?: string } | undefined)?.pg_dump),
      /\(PostgreSQL\) 15\./,
      "the server's own major (15) dumps it",
    );
    assert.ok(backup.requests.includes('GET /2018-06-01/runtime/invocation/next'));
    assert.ok(backup.requests.some((r) => /^POST \/2018-06-01\/runtime\/invocation\/[^/]+\/response$/.test(r)));
    const { backups } = await listBackups(new S3Target(`s3://${bucket}`), { database: name });
    assert.equal(backups.length, 1);

    await sql(db, 'create table added_later (x int); delete from invoice_line');
    const restore = await asLambda(
      'dist/functions/restore.handler',
      [
        { database: name, latest: true },
        { database: name, latest: true, confirm: db },
      ],
      deployment,
    );
    const [refused, restored] = restore.answers;
    assert.equal(refused?.kind, 'error', JSON.stringify(refused));
    assert.match(String(refused?.body.errorMessage), /"confirm"/);
    assert.equal(restored?.kind, 'response', JSON.stringify(restored));
    assert.equal(restored?.body.restored, true);
    assert.equal((await sql(db, "select to_regclass('added_later') as t"))[0]?.t, null);
    assert.equal(Number((await sql(db, 'select count(*) as n from invoice_line'))[0]?.n), 2240);
  });

  test('a cold start that fails reaches the Runtime API as an init error, naming what is missing', async () => {
    const deployment = provisionDeployment(database(), bucket);
    delete deployment.DBBACKUP_BUCKET;
    const { answers, requests } = await asLambda('dist/functions/backup.handler', [{ database: 'x', tier: 'daily' }], deployment);
    assert.equal(answers[0]?.kind, 'init-error', JSON.stringify(answers[0]));
    assert.match(String(answers[0]?.body.errorMessage), /Environment variable DBBACKUP_BUCKET is required/);
    assert.ok(requests.includes('POST /2018-06-01/runtime/init/error'));
  });

  test('the Fargate entry point backs up the event in DBBACKUP_EVENT and exits 0', async () => {
    const name = db.replace(/_/g, '-');
    const file = await envFile(work, {
      ...serviceEnvironment(services),
      ...provisionDeployment(database(), bucket),
      DBBACKUP_EVENT: JSON.stringify({ database: name, tier: 'weekly' }),
    });
    // The entry point and command infra/constructs/backup-tasks.ts gives the task's container.
    const result = await runWithin(
      'docker',
      [
        'run',
        '--rm',
        ...lambdaLikeOptions(file),
        '--entrypoint',
        '/var/lang/bin/node',
        IMAGE,
        '/var/task/dist/functions/backup-task.js',
      ],
      { limitMs: 600_000 },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /"message":"backup completed"/);
    assert.match(result.stdout, /"BackupSucceeded":1/);
  });

  test('a SQLite database of 40 MB: the CLI in the image feeds its snapshot through dd and igzip while a process of its own checks it', async () => {
    // Large enough (32 MiB or more) for the check to run beside the compression, in a process the
    // image's node forks from its own dist (shared/engines/sqlite/inspect-aside.ts).
    const dir = join(work, 'sqlite-data');
    await fs.mkdir(dir, { mode: 0o777 });
    await fs.chmod(dir, 0o777);
    const source = join(dir, 'school.db');
    const made = new Database(source);
    made.exec('create table pupils (id integer primary key, record blob)');
    made
      .prepare(
        'with recursive c(x) as (select 1 union all select x + 1 from c where x < 40000) insert into pupils (record) select randomblob(1000) from c',
      )
      .run();
    made.close();
    await fs.chmod(source, 0o666);
    const sqliteBucket = await createBucket('image-sqlite');
    const file = await envFile(work, serviceEnvironment(services));
    const result = await runWithin(
      'docker',
      [
        'run',
        '--rm',
        ...lambdaLikeOptions(file),
        '--volume',
        `${dir}:/data`,
        '--entrypoint',
        '/var/lang/bin/node',
        IMAGE,
        '/var/task/bin/dbbackup.js',
        'backup',
        '--source',
        '/data/school.db',
        '--target',
        `s3://${sqliteBucket}`,
        '--json',
      ],
      { limitMs: 300_000 },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const manifest = JSON.parse(result.stdout) as {
      tables: Record<string, number>;
      compression_implementation?: string;
      source_size_bytes?: number;
    };
    assert.deepEqual(manifest.tables, { pupils: 40000 });
    assert.match(String(manifest.compression_implementation), /^isal-igzip /);
    assert.equal(manifest.source_size_bytes, (await fs.stat(source)).size, "dd's count of the snapshot it fed igzip");
    const { backups } = await listBackups(new S3Target(`s3://${sqliteBucket}`), { database: 'school' });
    assert.equal(backups.length, 1);
    await assert.rejects(fs.stat(`${source}.dbbackup-lock`), { code: 'ENOENT' });
    // Read back on the host: the gzip igzip wrote in the image, against the manifest's SHA-256 and counts.
    const verify = await cli(['verify', '--target', `s3://${sqliteBucket}`, '--latest']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  /**
   * The major rule of shared/engines/postgres/find-pg-tools.ts restated over the image's clients:
   * pg_dump of the server's major, else the oldest newer; pg_restore at least the archive's, the
   * server's own preferred, else the oldest; none when only 17+ readers are left for a server before 17.
   */
  const dumpMajor = (server: number) => BUNDLED_MAJORS.filter((c) => c >= server).sort((a, b) => a - b)[0];
  const restoreMajor = (archive: number, server: number) => {
    // A reader newer than a server before 17 restores through psql (README, "Which client"), so any reader counts.
    const readers = BUNDLED_MAJORS.filter((c) => c >= archive).sort((a, b) => a - b);
    return readers.includes(server) ? server : readers[0];
  };

  test('each server major is dumped and restored by the client the image itself picks for it', async () => {
    const lines: string[] = [];
    for (const major of OTHER_SERVER_MAJORS) {
      const bin = await serverBinDir(major);
      assert.ok(bin.dir, `server ${major}: ${bin.why}`);
      const cluster = await startPostgresCluster({ binDir: bin.dir });
      try {
        const arn = `arn:aws:secretsmanager:us-east-1:123456789012:secret:image-test-pg${major}-AbCdEf`;
        secretValues[arn] = JSON.stringify({ username: 'postgres', password: cluster.password });
        const dbName = `pg${major}_app`;
        const admin = new URL(cluster.url);
        await querySql(admin.toString(), `create database ${dbName}`);
        admin.pathname = `/${dbName}`;
        await querySql(
          admin.toString(),
          'create table t (id int primary key, v text); insert into t select g, md5(g::text) from generate_series(1, 500) g',
        );
        const entry = {
          name: `pg${major}`,
          engine: 'postgres',
          host: '127.0.0.1',
          port: cluster.port,
          database: dbName,
          secretArn: arn,
          sslmode: 'disable',
        };
        const deployment = provisionDeployment(entry, bucket);

        const backup = await asLambda('dist/functions/backup.handler', [{ database: entry.name, tier: 'daily' }], deployment);
        const expectedDump = dumpMajor(major);
        assert.equal(backup.answers[0]?.kind, 'response', JSON.stringify(backup.answers[0]));
        const pgDump = String((backup.answers[0]?.body.engine_version as { pg_dump?: string }).pg_dump);
        assert.match(pgDump, new RegExp(`\\(PostgreSQL\\) ${expectedDump}\\.`), `server ${major}: pg_dump ${expectedDump}`);

        await querySql(admin.toString(), 'delete from t where id > 100');
        const restore = await asLambda(
          'dist/functions/restore.handler',
          [{ database: entry.name, latest: true, confirm: dbName }],
          deployment,
        );
        const expectedRestore = restoreMajor(expectedDump as number, major);
        const answer = restore.answers[0];
        if (expectedRestore === undefined) {
          assert.equal(answer?.kind, 'error', JSON.stringify(answer));
          assert.match(String(answer?.body.errorMessage), /pg_restore/, JSON.stringify(answer));
          lines.push(
            `server ${major}: pg_dump ${expectedDump}; restore refused (${String(answer?.body.errorMessage).slice(0, 160)})`,
          );
        } else {
          assert.equal(answer?.kind, 'response', JSON.stringify(answer));
          const client = JSON.stringify(answer?.body);
          assert.match(
            client,
            new RegExp(`pg_restore \\(PostgreSQL\\) ${expectedRestore}\\.`),
            `server ${major}: pg_restore ${expectedRestore}: ${client}`,
          );
          const [{ n }] = (await querySql(admin.toString(), 'select count(*)::int as n from t')) as [{ n: number }];
          assert.equal(n, 500);
          lines.push(`server ${major}: pg_dump ${expectedDump}, pg_restore ${expectedRestore}`);
        }
      } finally {
        await cluster.stop();
      }
    }
    process.stdout.write(`# ${lines.join('\n# ')}\n`);
  });

  test("TLS with the default config: an RDS host is verified in full against the image's RDS CA bundle, another host encrypted as under libpq's require", async () => {
    // A server that refuses every connection without TLS, whose certificate the stand-in RDS CA signed for RDS_HOST.
    const cluster = await startPostgresCluster({
      files: {
        'server.crt': await fs.readFile(join(rdsCa.dir, 'server.crt'), 'utf8'),
        'server.key': await fs.readFile(join(rdsCa.dir, 'server.key'), 'utf8'),
        'pg_hba.conf': 'local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n',
      },
      settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key' },
    });
    try {
      const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:image-test-tls-AbCdEf';
      secretValues[arn] = JSON.stringify({ username: 'postgres', password: cluster.password });
      const admin = new URL(cluster.url);
      admin.searchParams.set('sslmode', 'no-verify');
      await querySql(admin.toString(), 'create database tls_app');
      admin.pathname = '/tls_app';
      await querySql(admin.toString(), 'create table t (id int primary key); insert into t select generate_series(1, 300)');
      const entry = (fields: Record<string, unknown>) =>
        provisionDeployment(
          {
            name: 'tls-app',
            engine: 'postgres',
            host: RDS_HOST,
            port: cluster.port,
            database: 'tls_app',
            secretArn: arn,
            ...fields,
          },
          bucket,
        );
      const backup = (fields: Record<string, unknown>) =>
        asLambda('dist/functions/backup.handler', [{ database: 'tls-app', tier: 'daily' }], entry(fields));

      const verified = await backup({});
      assert.equal(verified.answers[0]?.kind, 'response', JSON.stringify(verified.answers[0]));
      await querySql(admin.toString(), 'delete from t where id > 10');
      const restored = await asLambda(
        'dist/functions/restore.handler',
        [{ database: 'tls-app', latest: true, confirm: 'tls_app' }],
        entry({}),
      );
      assert.equal(restored.answers[0]?.kind, 'response', JSON.stringify(restored.answers[0]));
      const [{ n }] = (await querySql(admin.toString(), 'select count(*)::int as n from t')) as [{ n: number }];
      assert.equal(n, 300);

      // libpq's require: encrypted, the certificate unchecked (no root certificate file for a host that is not RDS's).
      const required = await backup({ host: '127.0.0.1' });
      assert.equal(required.answers[0]?.kind, 'response', JSON.stringify(required.answers[0]));

      // The config's own sslrootcert replaces the RDS bundle: the system CAs never signed the stand-in's certificate.
      const otherCa = await backup({ sslrootcert: '/etc/ssl/certs/ca-certificates.crt' });
      assert.equal(otherCa.answers[0]?.kind, 'error', JSON.stringify(otherCa.answers[0]));
      assert.match(String(otherCa.answers[0]?.body.errorMessage), /ca-certificates\.crt/);

      // sslmode=disable to a server that accepts only TLS fails, as libpq would.
      const plain = await backup({ sslmode: 'disable' });
      assert.equal(plain.answers[0]?.kind, 'error', JSON.stringify(plain.answers[0]));
      assert.match(String(plain.answers[0]?.body.errorMessage), /sslmode=disable/);
    } finally {
      await cluster.stop();
    }
  });
});

async function querySql(url: string, text: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, query_timeout: 60_000 });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}
