import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../harness/postgres-cluster.js';
import { startSecretsServer, type SecretsServer } from '../harness/secrets-server.js';
import { sentEmails } from '../harness/ses-server.js';
import {
  bucketKeys,
  cli,
  createBucket,
  getObject,
  repoRoot,
  runAllowingFailure,
  sampleCopy,
  sql,
  tempDir,
  type RunResult,
  uniqueName,
} from '../harness/test-env.js';

/**
 * Passwords holding what breaks naive redaction: `@`, `:`, `/`, a space, `%`, quotes, a
 * backslash, `#`, `?` and non-ASCII letters, between distinctive three-character pieces, so
 * that a piece in any output is a leak, whole or in part, in whatever encoding.
 */
const PASSWORD = 'Qa1@Qb2:Qc3/Qd4 Qe5%Qf6"Qg7\\Qh8#Qi9?Qj0ü€Qk1';
/** One per character class, for the URLs a user types without percent-encoding. */
const RAW_PASSWORDS = [
  'Ww4@Wx5 Wy6',
  'Wt1 Wu2/Wv3',
  'Wa1/Wb2',
  'Wc3#Wd4',
  'We5?Wf6',
  'Wg7 Wh8',
  'Wi9%Wj0',
  'Wk1@Wl2/Wm3',
  '12/Wn4',
  'Wo5:Wp6 Wq7',
  'Wr8ü€Ws9',
];

/** The pieces of a password that must never be seen: its runs of three or more letters and digits. */
function pieces(password: string): string[] {
  return password.split(/[^A-Za-z0-9]+/).filter((p) => p.length >= 3);
}

function assertNoSecret(output: string, password: string, where: string): void {
  for (const piece of pieces(password))
    assert.ok(!output.includes(piece), `${where} shows "${piece}" of the password:\n${output}`);
}

function assertOneLine(result: RunResult, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stdout + result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

const harnessUrl = () => new URL(process.env.DBBACKUP_TEST_PG_URL as string);

/**
 * A bin directory whose pg_dump, pg_restore and psql record their arguments (one per line)
 * and, when they connect (`--dbname=`), PGPASSWORD, then run the harness's real programs.
 */
async function recordingBinDir(): Promise<{ dir: string; argv: () => Promise<string>; passwords: () => Promise<string[]> }> {
  const dir = await tempDir('secrets-bin');
  const real = process.env.DBBACKUP_TEST_PG_BIN_DIR as string;
  for (const name of ['pg_dump', 'pg_restore', 'psql']) {
    await fs.writeFile(
      join(dir, name),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec '${real}/${name}' --version; fi\n` +
        `printf '%s\\n' "${name}" "$@" >> '${dir}/argv'\n` +
        `case "$*" in *--dbname=*) printf '%s\\n' "$PGPASSWORD" >> '${dir}/passwords' ;; esac\n` +
        `exec '${real}/${name}' "$@"\n`,
      { mode: 0o755 },
    );
  }
  const read = (file: string) => fs.readFile(join(dir, file), 'utf8').catch(() => '');
  return {
    dir,
    argv: () => read('argv'),
    passwords: async () => (await read('passwords')).split('\n').slice(0, -1),
  };
}

describe('secrets reach no output: CLI lines, --json, manifests, client-program arguments, function logs, invoke, alerts', () => {
  let role: string;
  let db: string;
  let bucket: string;
  const port = () => Number(harnessUrl().port);
  const url = (query = '') =>
    `postgres://${role}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port()}/${db}${query ? `?${query}` : ''}`;

  before(async () => {
    role = uniqueName('secret_role');
    db = uniqueName('secrets');
    bucket = await createBucket('secrets');
    await sql('postgres', `create role ${role} login superuser password '${PASSWORD.replace(/'/g, "''")}'`);
    await sql('postgres', `create database ${db} owner ${role}`);
    await sql(
      db,
      'create table note (id int primary key, body text); insert into note select g, md5(g::text) from generate_series(1, 50) g',
    );
  });

  /** Nothing a refused run could leave: no session or lock of the role, no temp file, no object but its run record. */
  async function assertNothingLeft(tmp: string, where: string): Promise<void> {
    let sessions = -1;
    for (let i = 0; i < 20 && sessions !== 0; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      const rows = await sql<{ n: string }>('postgres', 'select count(*)::text as n from pg_stat_activity where usename = $1', [
        role,
      ]);
      sessions = Number(rows[0]?.n);
    }
    assert.equal(sessions, 0, `${where}: a session of the role is still open`);
    const locks = await sql<{ n: string }>(
      'postgres',
      `select count(*)::text as n from pg_locks l join pg_stat_activity a using (pid) where a.usename = $1`,
      [role],
    );
    assert.equal(Number(locks[0]?.n), 0, `${where}: a lock is still held`);
    assert.deepEqual(await fs.readdir(tmp), [], `${where}: the temp dir is not empty`);
    const stored = (await bucketKeys(bucket)).filter((k) => k.startsWith('refused/'));
    // A run that reached its target leaves its run record: the one thing stored, and without the password.
    assert.deepEqual(
      stored.filter((k) => !k.startsWith('refused/runs/')),
      [],
      `${where}: something was stored`,
    );
    for (const key of stored) assertNoSecret((await getObject(bucket, key)).toString('utf8'), PASSWORD, `${where}: ${key}`);
  }

  test('a password with @ : / space % quotes and unicode logs in from the URL and reaches pg_dump, pg_restore and psql by environment only; no output, argument or manifest shows it', async () => {
    const bin = await recordingBinDir();
    const env = { ...process.env, DBBACKUP_PG_BIN_DIR: bin.dir };
    const target = `s3://${bucket}/valid`;
    const outputs: Array<[string, string]> = [];
    const run = async (what: string, args: string[]) => {
      const result = await cli(args, { env });
      outputs.push([`${what} stdout`, result.stdout], [`${what} stderr`, result.stderr]);
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      return result;
    };

    const backup = await run('backup --json', ['backup', '--source', url(), '--target', target, '--json']);
    const manifest = JSON.parse(backup.stdout) as { key: string; source: string; backup_file: string };
    assert.equal(manifest.source, `postgres://${role}@127.0.0.1:${port()}/${db}`);
    outputs.push(['the stored manifest', (await getObject(bucket, `${manifest.key}.json`)).toString('utf8')]);
    await run('list --json', ['list', '--target', target, '--json']);
    await run('info --json', ['info', '--target', target, '--json']);
    await run('verify --json', ['verify', '--target', target, '--json']);
    // Into the same database: the restore backs it up first (pg_dump), then runs pg_restore.
    await run('restore --json', ['restore', '--target', target, '--latest', '--to', url(), '--confirm', db, '--json']);
    const plain = await run('backup --format plain', [
      'backup',
      '--source',
      url(),
      '--target',
      `${target}-plain`,
      '--format',
      'plain',
    ]);
    assert.match(plain.stdout, /^backup completed: /);
    await run('restore a plain backup (psql)', [
      'restore',
      '--target',
      `${target}-plain`,
      '--latest',
      '--to',
      url(),
      '--confirm',
      db,
    ]);

    const argv = await bin.argv();
    for (const program of ['pg_dump', 'pg_restore', 'psql'])
      assert.match(argv, new RegExp(`^${program}$`, 'm'), `${program} ran`);
    outputs.push(['client-program arguments', argv]);
    for (const [where, output] of outputs) assertNoSecret(output, PASSWORD, where);
    const passwords = await bin.passwords();
    assert.ok(passwords.length >= 5);
    assert.deepEqual(new Set(passwords), new Set([PASSWORD]), 'every client program got the password in PGPASSWORD');
  });

  test('a password given as ?password= logs in as one in the URL does, and reaches the client programs by environment only', async () => {
    const bin = await recordingBinDir();
    const env = { ...process.env, DBBACKUP_PG_BIN_DIR: bin.dir };
    const inQuery = `postgres://${role}@127.0.0.1:${port()}/${db}?password=${encodeURIComponent(PASSWORD)}&application_name=nightly`;
    const backup = await cli(['backup', '--source', inQuery, '--target', `s3://${bucket}/query`, '--json'], { env });
    assert.equal(backup.code, 0, backup.stderr);
    const manifest = JSON.parse(backup.stdout) as { key: string; source: string };
    assert.equal(manifest.source, `postgres://${role}@127.0.0.1:${port()}/${db}?application_name=nightly`);
    const restore = await cli(
      ['restore', '--target', `s3://${bucket}/query`, '--latest', '--to', inQuery, '--confirm', db, '--json'],
      { env },
    );
    assert.equal(restore.code, 0, restore.stderr);
    for (const [where, output] of [
      ['backup', backup.stdout + backup.stderr],
      ['restore', restore.stdout + restore.stderr],
      ['the stored manifest', (await getObject(bucket, `${manifest.key}.json`)).toString('utf8')],
      ['client-program arguments', await bin.argv()],
    ] as const) {
      assertNoSecret(output, PASSWORD, where);
    }
    assert.deepEqual(new Set(await bin.passwords()), new Set([PASSWORD]));
  });

  test('a password from a password file (PGPASSFILE) logs in, and nothing of the file reaches an output or argument', async () => {
    const bin = await recordingBinDir();
    const dir = await tempDir('secrets-pgpass');
    const passfile = join(dir, 'pgpass');
    const escaped = PASSWORD.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
    await fs.writeFile(passfile, `127.0.0.1:${port()}:${db}:${role}:${escaped}\n`, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = { ...process.env, DBBACKUP_PG_BIN_DIR: bin.dir, PGPASSFILE: passfile };
    delete env.PGPASSWORD;
    const source = `postgres://${role}@127.0.0.1:${port()}/${db}`;
    const backup = await cli(['backup', '--source', source, '--target', `s3://${bucket}/passfile`, '--json'], { env });
    assert.equal(backup.code, 0, backup.stderr);
    const manifest = JSON.parse(backup.stdout) as { key: string };
    for (const [where, output] of [
      ['backup', backup.stdout + backup.stderr],
      ['the stored manifest', (await getObject(bucket, `${manifest.key}.json`)).toString('utf8')],
      ['client-program arguments', await bin.argv()],
    ] as const) {
      assertNoSecret(output, PASSWORD, where);
    }
    assert.deepEqual(await bin.passwords(), [''], 'pg_dump read the file itself');
  });

  test('a secret libpq takes only on its command line (sslpassword, SCRAM keys, an OAuth client secret) is refused before anything runs, naming the parameter, never its value', async () => {
    const bin = await recordingBinDir();
    const tmp = await tempDir('secrets-tmp');
    const env = { ...process.env, DBBACKUP_PG_BIN_DIR: bin.dir, DBBACKUP_TMPDIR: tmp };
    for (const name of ['sslpassword', 'scram_client_key', 'scram_server_key', 'oauth_client_secret']) {
      const query = `${name}=${encodeURIComponent(PASSWORD)}`;
      const backup = await cli(['backup', '--source', url(query), '--target', `s3://${bucket}/refused`], { env });
      assertOneLine(backup, 2, new RegExp(`^dbbackup backup: ${name} is not supported`));
      assertNoSecret(backup.stdout + backup.stderr, PASSWORD, `backup with ${name}`);
      const restore = await cli(['restore', '--path', `s3://${bucket}/refused/x.dump.gz`, '--to', url(query), '--confirm', db], {
        env,
      });
      assertOneLine(restore, 2, new RegExp(`^dbbackup restore: ${name} is not supported`));
      assertNoSecret(restore.stdout + restore.stderr, PASSWORD, `restore with ${name}`);
      await assertNothingLeft(tmp, name);
    }
    assert.equal(await bin.argv(), '', 'no client program ran');
  });

  test('a URL typed with a raw / # ? space % @ or : in its password is refused in one line that shows no part of it and says to percent-encode', async () => {
    const tmp = await tempDir('secrets-tmp');
    const env = { ...process.env, DBBACKUP_TMPDIR: tmp };
    // The destination's URL is read by the same parser: a few of them show that restore words it alike.
    const alsoAsDestination = new Set(['Ww4@Wx5 Wy6', 'Wi9%Wj0', 'Wk1@Wl2/Wm3', '12/Wn4']);
    for (const password of RAW_PASSWORDS) {
      // As typed: the port after the host is wrong too where it makes the URL unparseable.
      for (const raw of [
        `postgres://${role}:${password}@127.0.0.1:${port()}/${db}`,
        `postgresql://${role}:${password}@127.0.0.1:5x/${db}`,
      ]) {
        const runs: Array<[string, RunResult]> = [
          ['backup --source', await cli(['backup', '--source', raw, '--target', `s3://${bucket}/refused`], { env })],
        ];
        if (alsoAsDestination.has(password)) {
          const args = ['restore', '--path', `s3://${bucket}/refused/x.dump.gz`, '--to', raw, '--confirm', db];
          runs.push(['restore --to', await cli(args, { env })]);
        }
        for (const [what, result] of runs) {
          assertNoSecret(result.stdout + result.stderr, password, `${what} ${raw}`);
          // Some of these are valid URLs whose password is simply wrong or misread; the rest are refused as URLs.
          assert.notEqual(result.code, 0, `${what} ${raw}: ${result.stderr}`);
          assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        }
      }
      await assertNothingLeft(tmp, password);
    }
    const slash = await cli(['backup', '--source', `postgres://${role}:Wa1/Wb2@127.0.0.1:${port()}/${db}`, '--target', tmp], {
      env,
    });
    assertOneLine(slash, 2, /invalid PostgreSQL URL .*percent-encode/);
  });

  test('a key=value connection string, which is not a URL, is refused without showing its password', async () => {
    const conninfo = `host=127.0.0.1 port=${port()} user=${role} password='${PASSWORD.replace(/\\/g, '\\\\')}' dbname=${db}`;
    const backup = await cli(['backup', '--source', conninfo, '--target', `s3://${bucket}/refused`]);
    assertOneLine(backup, 2, /cannot tell the database engine of source .*password=\*\*\*/);
    assertNoSecret(backup.stderr, PASSWORD, 'backup --source <key=value>');
    const restore = await cli(['restore', '--path', `s3://${bucket}/refused/x.dump.gz`, '--to', conninfo, '--confirm', db]);
    assertOneLine(restore, 2, /cannot tell the database engine of destination/);
    assertNoSecret(restore.stderr, PASSWORD, 'restore --to <key=value>');
  });

  test('a target URL, an S3 endpoint or a stray argument holding a password is refused without showing it', async () => {
    const dir = await tempDir('secrets-target');
    const sqlite = await sampleCopy('chinook/Chinook_Sqlite.sqlite');
    for (const target of [
      `ftp://backup:${PASSWORD}@host/dir`,
      `s3://AKIA:${encodeURIComponent(PASSWORD)}@bucket/x`,
      `file://u:${PASSWORD}@host/x`,
    ]) {
      const result = await cli(['backup', '--source', sqlite, '--target', target]);
      assertOneLine(result, 2, /^dbbackup backup: /);
      assertNoSecret(result.stderr, PASSWORD, `--target ${target}`);
    }
    const endpoint = await cli(['backup', '--source', sqlite, '--target', `s3://${bucket}/endpoint`], {
      env: { ...process.env, AWS_ENDPOINT_URL_S3: `http://minio:${encodeURIComponent(PASSWORD)}@127.0.0.1:9` },
    });
    assertOneLine(endpoint, 1, /cannot reach http:\/\/minio:\*\*\*@127\.0\.0\.1:9/);
    assertNoSecret(endpoint.stderr, PASSWORD, 'AWS_ENDPOINT_URL_S3');
    const stray = await cli(['backup', url(), '--target', dir]);
    assert.equal(stray.code, 2);
    assertNoSecret(stray.stderr, PASSWORD, 'a stray argument');
    const unknown = await cli([url()]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command/);
    assertNoSecret(unknown.stderr, PASSWORD, 'an unknown command');
    assert.deepEqual(await fs.readdir(dir), []);
  });

  describe('the functions (compiled, in a child process)', () => {
    const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:odd-password-AbCdEf';
    const WRONG_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:odd-wrong-AbCdEf';
    const WRONG = 'Xa1@Xb2:Xc3/Xd4 Xe5%Xf6ü€Xg7';
    let secrets: SecretsServer;
    let env: NodeJS.ProcessEnv;
    const name = () => db.replace(/_/g, '-');

    before(async () => {
      secrets = await startSecretsServer(() => ({
        [SECRET_ARN]: JSON.stringify({ username: role, password: PASSWORD }),
        [WRONG_ARN]: JSON.stringify({ username: role, password: WRONG }),
      }));
      env = {
        ...process.env,
        DBBACKUP_BUCKET: bucket,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
        AWS_REGION: 'us-east-1',
      };
    });

    const config = (secretArn: string) =>
      JSON.stringify({
        alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'], onSuccess: true },
        databases: [
          { name: name(), engine: 'postgres', host: '127.0.0.1', port: port(), database: db, secretArn, sslmode: 'disable' },
        ],
      });

    async function invoke(fn: string, event: unknown, secretArn = SECRET_ARN) {
      const result = await runAllowingFailure(
        process.execPath,
        [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, `dist/functions/${fn}.js`), JSON.stringify(event)],
        { env: { ...env, DBBACKUP_CONFIG: config(secretArn) } },
      );
      const last = result.stdout.trim().split('\n').at(-1) ?? '';
      return { ...result, kind: last.slice(0, last.indexOf(' ')) };
    }

    test('the backup function logs, returns and emails no part of a password with @ : / space % and unicode, whether the login succeeds or fails', async () => {
      const before = (await sentEmails()).length;
      const ok = await invoke('backup', { database: name(), tier: 'daily' });
      assert.equal(ok.kind, 'RESULT', ok.stdout + ok.stderr);
      const failed = await invoke('backup', { database: name(), tier: 'daily' }, WRONG_ARN);
      assert.equal(failed.kind, 'ERROR', failed.stdout + failed.stderr);
      assert.match(failed.stdout, /refused the login/);
      const mails = (await sentEmails()).slice(before).filter((m) => m.subject.includes(name()));
      assert.equal(mails.length, 2, JSON.stringify(mails.map((m) => m.subject)));
      for (const [where, output] of [
        ['the successful run', ok.stdout + ok.stderr],
        ['the failed run', failed.stdout + failed.stderr],
        ['the emails', JSON.stringify(mails)],
      ] as const) {
        assertNoSecret(output, PASSWORD, where);
        assertNoSecret(output, WRONG, where);
      }
    });

    test('the restore function logs its event with the destination password redacted, and no refusal echoes it', async () => {
      const to = url();
      const refused = await invoke('restore', { database: name(), latest: true, to });
      assert.equal(refused.kind, 'ERROR', refused.stdout);
      assert.match(refused.stdout, /"message":"restore started"/);
      assert.match(refused.stdout, new RegExp(`"to":"postgres://${role}:\\*\\*\\*@127\\.0\\.0\\.1:${port()}/${db}"`));
      for (const event of [
        { database: name(), latest: true, to, password: PASSWORD },
        { database: name(), path: to, to },
        { database: name(), latest: true, to: `postgres://${role}:Wa1/Wb2@127.0.0.1:${port()}/${db}` },
        {
          database: name(),
          latest: true,
          to: `postgres://${role}@127.0.0.1:${port()}/${db}?scram_client_key=${encodeURIComponent(PASSWORD)}`,
        },
      ]) {
        const result = await invoke('restore', event);
        assert.equal(result.kind, 'ERROR', result.stdout);
        assertNoSecret(result.stdout + result.stderr, PASSWORD, `the restore function, given ${Object.keys(event).join(', ')}`);
        assertNoSecret(result.stdout + result.stderr, 'Wa1/Wb2', 'the restore function, given a raw "/"');
      }
    });

    after(async () => {
      await secrets?.stop();
    });
  });

  describe('dbbackup invoke (against a stand-in Lambda endpoint)', () => {
    let server: Server;
    let endpoint: string;

    /**
     * A stand-in for the Lambda Invoke API (there is no local Lambda): it answers as a restore
     * function that logs its raw event (as one deployed before this fix does) and fails with
     * an error that quotes it, with the last 4 KB of that log as Lambda's tail, cut wherever
     * the test's padding puts the cut.
     */
    before(async () => {
      endpoint = `http://127.0.0.1:${await freePort()}`;
      server = createServer(async (request, response) => {
        const event = JSON.parse(await text(request)) as { database: string; to?: string };
        const cutAt = Number(/-cut(\d+)-/.exec(request.url ?? '')?.[1] ?? 0);
        const head = `START RequestId: r-1\n{"level":"INFO","message":"restore started","event":${JSON.stringify(event)}}\n`;
        const end = '\nEND RequestId: r-1\n';
        // Padded so that the last 4 KB, Lambda's tail, begin `cutAt` bytes into the logged destination URL.
        const padding = cutAt ? 'x'.repeat(4096 - (head.length - head.indexOf(event.to ?? '') - cutAt) - end.length) : '';
        const log = Buffer.from(`${head}${padding}${end}`);
        const tail = log.subarray(Math.max(0, log.length - 4096));
        response.setHeader('x-amz-log-result', tail.toString('base64'));
        response.setHeader('x-amz-function-error', 'Unhandled');
        response.end(JSON.stringify({ errorType: 'Error', errorMessage: `cannot restore into ${event.to}` }));
      });
      const { port: listenOn } = new URL(endpoint);
      await new Promise<void>((resolve) => server.listen(Number(listenOn), '127.0.0.1', resolve));
    });

    test("prints the function's error and log tail without the password it sent, even where the tail starts inside it", async () => {
      const to = url();
      const encoded = encodeURIComponent(PASSWORD);
      const runs: RunResult[] = [];
      for (const functionName of ['odd-restore', 'odd-cut12-restore', `odd-cut${to.indexOf(encoded) + 7}-restore`]) {
        const result = await cli(
          ['invoke', 'restore', '--database', 'school', '--latest', '--to', to, '--function-name', functionName],
          {
            env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: endpoint },
          },
        );
        runs.push(result);
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, new RegExp(`--- log of ${functionName} \\(last 4 KB\\) ---`));
        assert.match(result.stderr, /END RequestId: r-1/);
        assert.match(result.stderr, /^dbbackup invoke: .* failed: cannot restore into postgres:\/\/.*:\*\*\*@127\.0\.0\.1/m);
        assertNoSecret(result.stdout + result.stderr, PASSWORD, `invoke via ${functionName}`);
      }
      assert.match(runs[0]?.stderr ?? '', /"message":"restore started"/);
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  });

  after(async () => {
    await sql('postgres', `drop database if exists ${db} with (force)`).catch(() => {});
    await sql('postgres', `drop role if exists ${role}`).catch(() => {});
  });
});
