import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { GetObjectTaggingCommand } from '@aws-sdk/client-s3';
import { DumpError } from '../../shared/errors.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import { fingerprint } from '../harness/compare-databases.js';
import {
  assertOnlyFailedRunRecord,
  bucketKeys,
  cli,
  createBucket,
  createDatabase,
  fixturesDir,
  getObject,
  loadChinook,
  observedS3Client,
  pgDumpWrapperDir,
  pgPassword,
  pgUrl,
  psqlFile,
  run,
  s3Client,
  sql,
  tempDir,
} from '../harness/test-env.js';
import { readSettings } from '../../shared/settings.js';

const binDir = () => process.env.DBBACKUP_TEST_PG_BIN_DIR as string;

/** Restores a downloaded custom-format archive into a new database, failing on any error. */
async function restoreArchive(archive: Buffer, prefix: string): Promise<string> {
  const db = await createDatabase(prefix);
  const dir = await tempDir('archive');
  const file = join(dir, 'archive.dump');
  await fs.writeFile(file, archive);
  await run(join(binDir(), 'pg_restore'), ['--exit-on-error', '--single-transaction', '--no-owner', '-d', pgUrl(db), file]);
  return db;
}

describe('PostgreSQL backups to S3', () => {
  let chinook: string;
  let hard: string;
  let bucket: string;

  before(async () => {
    [chinook, hard, bucket] = await Promise.all([
      loadChinook(),
      createDatabase('hard').then(async (db) => {
        await psqlFile(db, join(fixturesDir, 'postgres-hard.sql'));
        return db;
      }),
      createBucket('pg'),
    ]);
  });

  test('Chinook backs up to S3: the object, read with a plain S3 client, gunzips to an archive pg_restore restores to identical data, and its SHA-256 is the manifest hash', async () => {
    const manifest = await runBackup({ source: pgUrl(chinook), target: `s3://${bucket}/prod` });

    assert.equal(manifest.status, 'completed');
    assert.match(
      manifest.key,
      new RegExp(`^prod/postgres/${chinook}/\\d{4}/backup_${chinook}_\\d{8}_\\d{6}_[0-9a-f]{8}\\.dump\\.gz$`),
    );
    const stored = await getObject(bucket, manifest.key);
    assert.equal(stored.length, manifest.size_bytes);
    assert.equal(createHash('sha256').update(stored).digest('hex'), manifest.hash);
    const archive = gunzipSync(stored);
    assert.equal(archive.subarray(0, 5).toString(), 'PGDMP');
    assert.equal(archive.length, manifest.source_size_bytes);

    const restored = await restoreArchive(archive, 'chinook_restored');
    assert.deepEqual(await fingerprint(restored), await fingerprint(chinook));
    assert.equal(manifest.tables['public.track'], 3503);

    const manifestObject = JSON.parse((await getObject(bucket, `${manifest.key}.json`)).toString());
    assert.deepEqual(manifestObject, manifest);
    const tags = await s3Client().send(new GetObjectTaggingCommand({ Bucket: bucket, Key: manifest.key }));
    assert.deepEqual(tags.TagSet, [{ Key: 'sha256', Value: manifest.hash }]);
  });

  test('the hard fixture (schemas, quoting, bytea with NULs, large objects, enums, sequences, triggers, unicode) restores exactly', async () => {
    const manifest = await runBackup({ source: pgUrl(hard), target: `s3://${bucket}` });
    const restored = await restoreArchive(gunzipSync(await getObject(bucket, manifest.key)), 'hard_restored');

    const [before, afterRestore] = await Promise.all([fingerprint(hard), fingerprint(restored)]);
    assert.deepEqual(afterRestore, before);
    assert.equal(Object.keys(before.largeObjects).length, 3);
    assert.equal(before.sequences['inventory.big_seq'], '9000000000000003127');
    assert.equal(manifest.tables['Sales Dept.Order'], 2);
    assert.equal(manifest.tables['ünïcødé_schema.tâble 🚀'], 3);
  });

  test('zstd and uncompressed backups hold a custom-format archive; plain format holds the SQL script', async () => {
    const zstd = await runBackup({ source: pgUrl(hard), target: `s3://${bucket}/z`, compression: 'zstd' });
    assert.match(zstd.backup_file, /\.dump\.zst$/);
    const dir = await tempDir('zstd');
    await fs.writeFile(join(dir, 'b.zst'), await getObject(bucket, zstd.key));
    await run('zstd', ['-q', '-d', join(dir, 'b.zst'), '-o', join(dir, 'b.dump')]);
    const restored = await restoreArchive(readFileSync(join(dir, 'b.dump')), 'hard_zstd');
    assert.deepEqual((await fingerprint(restored)).tables, (await fingerprint(hard)).tables);

    const none = await runBackup({ source: pgUrl(hard), target: `s3://${bucket}/n`, compression: 'none' });
    assert.match(none.backup_file, /\.dump$/);
    assert.equal((await getObject(bucket, none.key)).subarray(0, 5).toString(), 'PGDMP');
    assert.equal(none.size_bytes, none.source_size_bytes);

    const plain = await runBackup({ source: pgUrl(hard), target: `s3://${bucket}/p`, format: 'plain' });
    assert.match(plain.backup_file, /\.sql\.gz$/);
    const script = gunzipSync(await getObject(bucket, plain.key)).toString();
    assert.match(script, /CREATE TABLE "Sales Dept"."Order"/);
    assert.match(script, /-- PostgreSQL database dump complete/);
  });

  test('storage class and SSE settings are recorded, and two backups in the same second both survive', async () => {
    const at = new Date('2026-01-02T03:04:05Z');
    const first = await runBackup(
      { source: pgUrl(chinook), target: `s3://${bucket}/same`, storageClass: 'STANDARD_IA' },
      { now: () => at },
    );
    const second = await runBackup({ source: pgUrl(chinook), target: `s3://${bucket}/same` }, { now: () => at });
    assert.equal(first.storage_class, 'STANDARD_IA');
    assert.equal(first.sse, 'bucket-default', 'none asked, and s3rver does not say');
    assert.notEqual(first.key, second.key);
    assert.match(second.backup_file, /_20260102_030405_[0-9a-f]{8}\.dump\.gz$/);
    const { backups } = await listBackups(new S3Target(`s3://${bucket}/same`), { database: chinook });
    assert.deepEqual(backups.map((b) => b.manifest.backup_file).sort(), [first.backup_file, second.backup_file].sort());
  });

  test('SSE-KMS with a key id is requested per upload and recorded in the manifest', async () => {
    const manifest = await runBackup({
      source: pgUrl(chinook),
      target: `s3://${bucket}/kms`,
      sse: 'aws:kms',
      kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555',
    });
    assert.equal(manifest.sse, 'aws:kms');
    assert.equal(manifest.kms_key_id, 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555');
  });

  test('the password reaches pg_dump through its environment only: never its arguments, the manifest or the output', async () => {
    const dir = await tempDir('argv');
    const wrapper = await pgDumpWrapperDir(
      `printf '%s\\n' "$@" > '${dir}/argv'; printf '%s' "$PGPASSWORD" > '${dir}/env'; exec "$REAL" "$@"`,
    );
    const result = await cli(['backup', '--source', pgUrl(chinook), '--target', `s3://${bucket}/argv`, '--json'], {
      env: { ...process.env, DBBACKUP_PG_BIN_DIR: wrapper },
    });
    assert.equal(result.code, 0, result.stderr);
    const password = pgPassword();
    assert.equal(await fs.readFile(join(dir, 'env'), 'utf8'), password);
    assert.ok(!(await fs.readFile(join(dir, 'argv'), 'utf8')).includes(password));
    assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password));
    assert.equal(JSON.parse(result.stdout).engine_version.server.split('.')[0], '15');
  });

  test('a pg_dump killed with SIGKILL halfway fails the backup: no manifest, no object, no open multipart upload', async () => {
    const big = await createDatabase('big');
    await sql(
      big,
      `create table filler as select g as id, md5(g::text) || repeat(md5((g * 7)::text), 6) as t from generate_series(1, 600000) g`,
    );
    const dir = await tempDir('kill');
    const wrapper = await pgDumpWrapperDir(`echo $$ > '${dir}/pid'; exec "$REAL" "$@"`);
    const target = `s3://${bucket}/killed`;
    const { client, sent } = observedS3Client();
    let killed = false;
    await assert.rejects(
      runBackup(
        { source: pgUrl(big), target, level: 9 },
        {
          s3Client: client,
          settings: readSettings({ ...process.env, DBBACKUP_PG_BIN_DIR: wrapper }),
          onProgress: (p) => {
            if (!killed && p.storedBytes > 12_000_000) {
              killed = true;
              process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 'SIGKILL');
            }
          },
        },
      ),
      (error: Error) => error instanceof DumpError && /killed by SIGKILL/.test(error.message),
    );
    assert.ok(killed, 'the dump ended before it could be killed');
    await assertOnlyFailedRunRecord({ bucket }, { prefix: 'killed/', error: /killed by SIGKILL/ });
    assert.ok(sent.includes('CreateMultipartUploadCommand'), `expected a multipart upload, sent: ${sent.join(', ')}`);
    assert.ok(sent.includes('AbortMultipartUploadCommand'));
    assert.ok(!sent.includes('CompleteMultipartUploadCommand'));
    assert.deepEqual((await listBackups(new S3Target(target))).backups, []);
  });

  test('a pg_dump that writes everything and then exits non-zero is not a completed backup', async () => {
    const wrapper = await pgDumpWrapperDir(`"$REAL" "$@"; echo 'pg_dump: error: simulated failure at the end' >&2; exit 1`);
    const target = `s3://${bucket}/late`;
    const result = await cli(['backup', '--source', pgUrl(chinook), '--target', target], {
      env: { ...process.env, DBBACKUP_PG_BIN_DIR: wrapper },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^dbbackup backup: pg_dump of .* exited with code 1: pg_dump: error: simulated failure at the end\. no backup was stored/,
    );
    assert.equal(result.stderr.trim().split('\n').length, 1);
    await assertOnlyFailedRunRecord(
      { bucket },
      { prefix: 'late/', error: /exited with code 1: pg_dump: error: simulated failure/ },
    );
  });

  test('a wrong password and an unknown database exit 2 with one line that names the problem and hides the password', async () => {
    const wrong = new URL(pgUrl(chinook));
    wrong.password = 'not-the-password-123';
    const badPassword = await cli(['backup', '--source', wrong.toString(), '--target', `s3://${bucket}/bad`]);
    assert.equal(badPassword.code, 2);
    assert.match(badPassword.stderr, /refused the login of user "postgres"/);
    assert.ok(!badPassword.stderr.includes('not-the-password-123'));
    assert.equal(badPassword.stderr.trim().split('\n').length, 1);

    const unknown = await cli(['backup', '--source', pgUrl('no_such_db'), '--target', `s3://${bucket}/bad`]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /database "no_such_db" does not exist/);
    assert.ok(!unknown.stderr.includes(pgPassword()));
    // Bad input given by hand leaves nothing behind, not even a run record (a scheduled run's is recorded).
    const left = await bucketKeys(bucket).then((keys) => keys.filter((k) => k.startsWith('bad/')));
    assert.deepEqual(left, []);
  });

  test('an older pg_dump in DBBACKUP_PG_BIN_DIR is passed over for one that can dump the server', async () => {
    const dir = await tempDir('oldpg');
    await fs.writeFile(join(dir, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 9.6.24"\nexit 0\n', { mode: 0o755 });
    const manifest = await runBackup(
      { source: pgUrl(chinook), target: `s3://${bucket}/old` },
      { settings: readSettings({ ...process.env, DBBACKUP_PG_BIN_DIR: dir }) },
    );
    assert.match(manifest.engine_version.pg_dump ?? '', /\(PostgreSQL\) 1[5-9]/);
  });

  after(async () => {
    for (const db of [chinook, hard])
      if (db) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});

describe('overlapping backups', () => {
  test('a second backup of the same database while one is running ends with "already running"; the first completes', async () => {
    const db = await createDatabase('overlap');
    await sql(db, 'create table t as select g from generate_series(1, 1000) g');
    const bucket = await createBucket('overlap');
    const slow = await pgDumpWrapperDir('sleep 2; exec "$REAL" "$@"');
    // Start the second run once the first is streaming: past its probe, so it holds the lock.
    let streaming: () => void = () => {};
    const firstIsStreaming = new Promise<void>((resolve) => {
      streaming = resolve;
    });
    const first = runBackup(
      { source: pgUrl(db), target: `s3://${bucket}` },
      {
        settings: readSettings({ ...process.env, DBBACKUP_PG_BIN_DIR: slow }),
        onProgress: (p) => p.phase === 'streaming' && streaming(),
      },
    );
    await firstIsStreaming;
    const second = await cli(['backup', '--source', pgUrl(db), '--target', `s3://${bucket}`]);
    assert.equal(second.code, 1, second.stderr);
    assert.match(
      second.stderr,
      /another backup of overlap_\w+ on 127\.0\.0\.1:\d+ is already running\. nothing was stored by this run/,
    );
    const manifest = await first;
    assert.equal(manifest.tables['public.t'], 1000);
    const third = await runBackup({ source: pgUrl(db), target: `s3://${bucket}` });
    assert.notEqual(third.key, manifest.key, 'the lock is released once a backup ends');
  });
});
