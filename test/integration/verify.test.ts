import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { runBackup } from '../../shared/backup/run-backup.js';
import {
  cli,
  createBucket,
  getObject,
  loadChinook,
  pgUrl,
  run,
  s3Client,
  sampleCopy,
  sql,
  tempDir,
} from '../harness/test-env.js';

const sqliteChinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

describe('verify', () => {
  let pgChinook: string;
  let bucket: string;

  before(async () => {
    [pgChinook, bucket] = await Promise.all([loadChinook(), createBucket('verify')]);
  });

  test('healthy backups in every format and compression pass: custom (gzip, zstd, none), plain, SQLite', async () => {
    const target = `s3://${bucket}/healthy`;
    for (const options of [
      {},
      { compression: 'zstd' as const },
      { compression: 'none' as const },
      { format: 'plain' as const },
    ]) {
      await runBackup({ source: pgUrl(pgChinook), target, ...options });
    }
    await runBackup({ source: sqliteChinook, target });
    const result = await cli(['verify', '--target', target, '--all', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const results = JSON.parse(result.stdout) as Array<{ ok: boolean; checks: Record<string, boolean> }>;
    assert.equal(results.length, 5);
    for (const r of results) assert.deepEqual(r.checks, { size: true, sha256: true, content: true });
  });

  test('one byte changed in a stored file: exit 3, naming the SHA-256 mismatch', async () => {
    const dir = await tempDir('verify');
    const manifest = await runBackup({ source: sqliteChinook, target: dir });
    const file = join(dir, manifest.key);
    const bytes = await fs.readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0x01;
    await fs.writeFile(file, bytes);

    const result = await cli(['verify', '--target', dir, '--latest']);
    assert.equal(result.code, 3);
    assert.match(
      result.stdout,
      /^CORRUPT {2}backup_Chinook_Sqlite_.*: (SHA-256 of .* is [0-9a-f]{64}, the manifest says|the backup cannot be decompressed)/,
    );
    assert.match(result.stderr, /1 of 1 backup\(s\) failed verification/);
  });

  test('a truncated stored file: exit 3, naming the size mismatch', async () => {
    const dir = await tempDir('verify');
    const manifest = await runBackup({ source: sqliteChinook, target: dir });
    await fs.truncate(join(dir, manifest.key), manifest.size_bytes - 100);
    const result = await cli(['verify', '--target', dir]);
    assert.equal(result.code, 3);
    assert.match(result.stdout, /holds \d+ bytes, the manifest says \d+ \(truncated or replaced\)/);
  });

  test('an S3 object with one byte changed, and one truncated: exit 3 each; the healthy one beside them passes', async () => {
    const target = `s3://${bucket}/tamper`;
    const good = await runBackup({ source: pgUrl(pgChinook), target });
    const flipped = await runBackup({ source: pgUrl(pgChinook), target });
    const cut = await runBackup({ source: pgUrl(pgChinook), target });
    const flippedBytes = await getObject(bucket, flipped.key);
    flippedBytes[1000] = (flippedBytes[1000] as number) ^ 0x80;
    await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: flipped.key, Body: flippedBytes }));
    const cutBytes = await getObject(bucket, cut.key);
    await s3Client().send(
      new PutObjectCommand({ Bucket: bucket, Key: cut.key, Body: cutBytes.subarray(0, cutBytes.length / 2) }),
    );

    for (const file of [flipped.backup_file, cut.backup_file]) {
      const result = await cli(['verify', '--target', target, '--file', file]);
      assert.equal(result.code, 3, `${file}: ${result.stdout}${result.stderr}`);
    }
    const healthy = await cli(['verify', '--target', target, '--file', good.backup_file]);
    assert.equal(healthy.code, 0, healthy.stdout + healthy.stderr);
    const all = await cli(['verify', '--target', target, '--all']);
    assert.equal(all.code, 3);
    assert.match(all.stderr, /2 of 3 backup\(s\) failed/);
  });

  test('a truncated archive whose manifest matches its bytes still fails: the content check reads every data block', async () => {
    const dir = await tempDir('verify');
    const manifest = await runBackup({ source: pgUrl(pgChinook), target: dir });
    const archive = gunzipSync(await fs.readFile(join(dir, manifest.key)));
    // pg_restore -l accepts this: the table of contents is intact, the data is not.
    const truncated = gzipSync(archive.subarray(0, Math.floor(archive.length * 0.8)));
    const listOnly = await run('pg_restore', ['-l'], { input: gunzipSync(truncated) }).then(
      () => 'accepted',
      () => 'rejected',
    );
    assert.equal(listOnly, 'accepted');

    await fs.writeFile(join(dir, manifest.key), truncated);
    const forged = { ...manifest, size_bytes: truncated.length, hash: createHash('sha256').update(truncated).digest('hex') };
    await fs.writeFile(join(dir, `${manifest.key}.json`), JSON.stringify(forged));
    const result = await cli(['verify', '--target', dir, '--latest']);
    assert.equal(result.code, 3);
    assert.match(result.stdout, /pg_restore cannot read the archive/);
  });

  test('naming a backup that does not exist: exit 2', async () => {
    const result = await cli([
      'verify',
      '--target',
      `s3://${bucket}/healthy`,
      '--file',
      'backup_nothing_20000101_000000.dump.gz',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no completed backup named "backup_nothing_20000101_000000\.dump\.gz"/);
  });

  after(async () => {
    if (pgChinook) await sql('postgres', `drop database if exists "${pgChinook}" with (force)`).catch(() => {});
  });
});
