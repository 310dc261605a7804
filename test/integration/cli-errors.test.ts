import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { assertOnlyFailedRunRecord, bucketKeys, cli, createBucket, sampleCopy, tempDir } from '../harness/test-env.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

/** Asserts the CLI failed the way a user should see it: the exit code and exactly one line on stderr. */
function assertOneLineFailure(result: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.ok(!/\n\s+at /.test(result.stderr), 'no stack trace without --debug');
}

describe('CLI errors: one line, the right exit code, nothing stored', () => {
  test('a SQLite path that does not exist: exit 2', async () => {
    const dir = await tempDir('cli');
    const result = await cli(['backup', '--source', join(dir, 'nope.db'), '--target', join(dir, 'out')]);
    assertOneLineFailure(result, 2, /^dbbackup backup: SQLite database .*nope\.db does not exist\. check the path/);
    // Bad input given by hand leaves nothing, not even a run record.
    assert.deepEqual(await fs.readdir(join(dir, 'out')).catch(() => []), []);
  });

  test('an unknown source URL scheme: exit 2, naming the schemes that work', async () => {
    const dir = await tempDir('cli');
    const result = await cli(['backup', '--source', 'mysql://root:secret@db/app', '--target', dir]);
    assertOneLineFailure(result, 2, /unsupported source URL scheme "mysql" .*use postgres:\/\/, postgresql:\/\/ or sqlite:/);
    assert.ok(!result.stderr.includes('secret'));
  });

  test('an unknown target URL scheme: exit 2', async () => {
    const result = await cli(['backup', '--source', chinook, '--target', 'ftp://host/dir']);
    assertOneLineFailure(result, 2, /unsupported target URL scheme "ftp"/);
  });

  test('an unreachable S3 endpoint: exit 1, naming the endpoint', async () => {
    const result = await cli(['backup', '--source', chinook, '--target', 's3://some-bucket/x'], {
      env: { ...process.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' },
    });
    assertOneLineFailure(result, 1, /cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/);
  });

  test('a bucket that does not exist: exit 1, and the bucket is not created', async () => {
    const result = await cli(['backup', '--source', chinook, '--target', 's3://no-such-bucket-here/x']);
    assertOneLineFailure(result, 1, /bucket "no-such-bucket-here" does not exist\. create the bucket/);
    const list = await cli(['list', '--target', 's3://no-such-bucket-here/x']);
    assert.notEqual(list.code, 0);
  });

  test('an out-of-range compression level and an unknown option: exit 2 before anything is read', async () => {
    const dir = await tempDir('cli');
    assertOneLineFailure(
      await cli(['backup', '--source', chinook, '--target', dir, '--level', '12']),
      2,
      /gzip level must be 1-9 \(got 12\)/,
    );
    const unknown = await cli(['backup', '--source', chinook, '--target', dir, '--frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--frobnicate'/);
    assert.deepEqual(await fs.readdir(dir), []);
  });

  test('a number option that is not written as one: refused naming what was given, not read as 0 or as hex', async () => {
    const dir = await tempDir('cli');
    // Number() reads "" as 0 ("gzip level must be 1-9 (got 0)" for an unset shell variable, and
    // --keep-daily "" as keep none) and "0x5", "1e0" and " 5" as numbers nobody wrote.
    for (const [option, value] of [
      ['--level', ''],
      ['--level', '0x5'],
      ['--level', '1e0'],
      ['--level', ' 5'],
      ['--lock-wait', ''],
    ]) {
      const result = await cli(['backup', '--source', chinook, '--target', dir, option as string, value as string]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`${option} must be a whole number \\(got "${value}"\\)`));
    }
    const prune = await cli(['prune', '--target', dir, '--keep-daily', '']);
    assert.equal(prune.code, 2, prune.stderr);
    assert.match(prune.stderr, /--keep-daily must be a whole number \(got ""\)/);
    assert.deepEqual(await fs.readdir(dir), []);
  });

  test("a value the request refuses is named by the flag typed and says what fits, not in zod's words", async () => {
    const dir = await tempDir('cli');
    assertOneLineFailure(
      await cli(['prune', '--target', dir, '--keep-daily', '1', '--database', '', '--yes']),
      2,
      /^dbbackup prune: --database: must name a database \(got ""\)$/,
    );
    assertOneLineFailure(
      await cli(['backup', '--source', chinook, '--target', dir, '--lock-wait', '-1']),
      2,
      /^dbbackup backup: --lock-wait: must be more than 0 seconds \(got -1\)$/,
    );
    assert.deepEqual(await fs.readdir(dir), []);
  });

  test('S3-only options with a directory target are refused rather than ignored', async () => {
    const dir = await tempDir('cli');
    assertOneLineFailure(
      await cli(['backup', '--source', chinook, '--target', dir, '--storage-class', 'GLACIER']),
      2,
      /--storage-class applies to S3 targets only/,
    );
  });

  test('--debug adds the stack trace', async () => {
    const dir = await tempDir('cli');
    const result = await cli(['backup', '--source', join(dir, 'nope.db'), '--target', dir, '--debug']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /\n\s+at /);
  });

  test('every subcommand has --help', async () => {
    for (const command of ['backup', 'list', 'verify', 'info', 'prune']) {
      const result = await cli([command, '--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`Usage: dbbackup ${command}`));
    }
  });

  test('a failed backup to S3 is invisible: list shows nothing, and only its run record is stored', async () => {
    const bucket = await createBucket('cli');
    // A server that does not answer is no mistake in the input: the run happened, and failed.
    const backup = await cli(['backup', '--source', 'postgres://nobody@127.0.0.1:9/app', '--target', `s3://${bucket}`]);
    assert.equal(backup.code, 1, backup.stderr);
    const list = await cli(['list', '--target', `s3://${bucket}`, '--json']);
    assert.equal(list.code, 0);
    assert.deepEqual(JSON.parse(list.stdout), []);
    await assertOnlyFailedRunRecord({ bucket });
  });

  test('bad input by hand leaves nothing in an S3 target, not even a run record', async () => {
    const bucket = await createBucket('cli');
    const dir = await tempDir('cli');
    const result = await cli(['backup', '--source', join(dir, 'nope.db'), '--target', `s3://${bucket}`]);
    assert.equal(result.code, 2);
    assert.deepEqual(await bucketKeys(bucket), []);
  });
});
