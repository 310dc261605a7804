import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import type { Manifest } from '../../shared/manifest.js';
import { readSettings, type Settings } from '../../shared/settings.js';
import { FileTarget } from '../../shared/targets/file-target.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import type { Target } from '../../shared/targets/target.js';
import { verifyBackup } from '../../shared/verify/verify-backup.js';
import { startS3Server } from '../harness/s3-server.js';
import { tempDir } from '../harness/test-env.js';

/** SQLite databases at different paths, each holding one row that says which it is. */
async function databases(count: number): Promise<string[]> {
  const dir = await tempDir('same-second');
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    const path = join(dir, `source${i}.db`);
    const db = new Database(path);
    db.exec('create table whoami (n integer)');
    db.prepare('insert into whoami values (?)').run(i);
    db.close();
    paths.push(path);
  }
  return paths;
}

/** Backs up every source under one name, all at once, with the clock stopped at one second. */
async function allAtOnce(sources: string[], target: string, settings: Settings): Promise<Manifest[]> {
  const at = new Date('2026-05-06T07:08:09.000Z');
  return Promise.all(sources.map((source) => runBackup({ source, target, name: 'app' }, { now: () => at, settings })));
}

/** Checks that every run's backup is stored, listed, verifies, and holds the database that run read. */
async function assertEachSurvives(target: Target, manifests: Manifest[], settings: Settings): Promise<void> {
  const files = manifests.map((m) => m.backup_file);
  assert.equal(new Set(files).size, manifests.length, `one name for several runs: ${files.join(', ')}`);
  const { backups } = await listBackups(target, { database: 'app' });
  assert.deepEqual(backups.map((b) => b.manifest.backup_file).sort(), [...files].sort());
  const dir = await tempDir('same-second-check');
  for (const backup of backups) {
    const result = await verifyBackup(target, backup, settings);
    assert.ok(result.ok, `${backup.key}: ${result.problem}`);
    const chunks: Buffer[] = [];
    for await (const chunk of await target.get(backup.key)) chunks.push(chunk as Buffer);
    const file = join(dir, backup.manifest.backup_file.replace(/\.gz$/, ''));
    await fs.writeFile(file, gunzipSync(Buffer.concat(chunks)));
    const db = new Database(file, { readonly: true });
    const read = manifests.findIndex((m) => m.backup_file === backup.manifest.backup_file);
    assert.equal(db.prepare('select n from whoami').pluck().get(), read, `${backup.key} holds the database its run read`);
    db.close();
  }
}

describe('runs with the same name in the same second never share a key', () => {
  test('on an S3 server that ignores If-None-Match (s3rver as is: a stand-in for such servers), three concurrent runs each keep their backup', async () => {
    const lax = await startS3Server({ honourIfNoneMatch: false });
    try {
      const settings = readSettings({ ...process.env, AWS_ENDPOINT_URL_S3: lax.endpoint });
      const bucket = `lax-${randomBytes(4).toString('hex')}`;
      const client = new S3Client({ endpoint: lax.endpoint, region: 'us-east-1', forcePathStyle: true });
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      const url = `s3://${bucket}/prod`;
      const manifests = await allAtOnce(await databases(3), url, settings);
      await assertEachSurvives(new S3Target(url, { settings }), manifests, settings);
    } finally {
      await lax.stop();
    }
  });

  test('into a directory, three concurrent runs all complete (none fails on the name another took)', async () => {
    const settings = readSettings(process.env);
    const dir = await tempDir('same-second-dir');
    const manifests = await allAtOnce(await databases(3), dir, settings);
    await assertEachSurvives(new FileTarget(dir), manifests, settings);
  });
});
