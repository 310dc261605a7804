import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { runBackup } from '../../shared/backup/run-backup.js';
import type { Manifest } from '../../shared/manifest.js';
import {
  bucketKeys,
  cli,
  createBucket,
  createDatabase,
  pgUrl,
  s3Client,
  sampleCopy,
  sessionsOn,
  sql,
  tempDir,
} from '../harness/test-env.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

const HOUR_MS = 3600_000;

/**
 * app.db, a real backup of it, and a second one taken `aheadMs` ahead of the clock (a clock that
 * ran ahead, a forged manifest), of `kind` when given, in a directory target of their own.
 */
async function withBackupAhead(name: string, aheadMs: number, kind?: 'pre-restore') {
  const dir = await tempDir(name);
  const path = join(dir, 'app.db');
  await fs.copyFile(chinook, path);
  const target = join(dir, 'b');
  const real = await runBackup({ source: path, target });
  const ahead = await runBackup({ source: path, target, kind }, { now: () => new Date(Date.now() + aheadMs) });
  return { dir, path, target, real, ahead };
}

/** `text` as a regular expression matching itself (backup file names hold dots). */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Every file under a directory, with its size: what a failed command must leave as it was. */
async function tree(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true });
  const files = [];
  for (const entry of entries.sort()) {
    const stat = await fs.stat(join(dir, entry));
    if (stat.isFile()) files.push(`${entry} ${stat.size}`);
  }
  return files;
}

/** Asserts no session is connected to `db` and no dbbackup advisory lock on it is held. */
async function assertNothingHeld(db: string): Promise<void> {
  assert.deepEqual(await sessionsOn(db), []);
  const locks = await sql(
    'postgres',
    `select k.name from unnest($1::text[]) as k(name), pg_locks l
      where l.locktype = 'advisory' and l.objsubid = 1
        and l.classid = ((hashtext(k.name)::bigint >> 32) & 4294967295)::oid
        and l.objid = (hashtext(k.name)::bigint & 4294967295)::oid`,
    [[`dbbackup restore ${db}`, `dbbackup backup ${db}`]],
  );
  assert.deepEqual(locks, []);
}

/** Ways a manifest gets damaged: cut short, emptied, or valid JSON that is not a manifest any more. */
const DAMAGES: Array<{ name: string; damage: (text: string) => string }> = [
  { name: 'truncated', damage: (text) => text.slice(0, Math.floor(text.length / 2)) },
  { name: 'empty', damage: () => '' },
  { name: 'edited into an invalid manifest', damage: (text) => JSON.stringify({ ...JSON.parse(text), hash: 'not-a-hash' }) },
];

/** Two SQLite backups of app.db in a directory target, one minute apart; the newer one's manifest damaged. */
async function setUp(damage: (text: string) => string) {
  const dir = await tempDir('damaged');
  const path = join(dir, 'app.db');
  await fs.copyFile(chinook, path);
  const target = join(dir, 'b');
  const older = await runBackup({ source: path, target }, { now: () => new Date(Date.now() - 60_000) });
  const newer = await runBackup({ source: path, target });
  const manifestPath = `${newer.location}.json`;
  await fs.writeFile(manifestPath, damage(await fs.readFile(manifestPath, 'utf8')));
  const tmp = await tempDir('damaged-tmp');
  return { dir, path, target, older, newer, tmp, env: { ...process.env, DBBACKUP_TMPDIR: tmp } };
}

describe('a damaged manifest is reported by every command, never skipped silently', () => {
  for (const { name, damage } of DAMAGES) {
    test(`the newest manifest ${name}: restore --latest refuses (exit 3) and changes nothing; --file of the older one restores`, async () => {
      const { path, target, older, newer, tmp, env } = await setUp(damage);
      const before = await fs.readFile(path);
      const stored = await tree(target);

      const latest = await cli(['restore', '--target', target, '--latest', '--to', path, '--confirm', 'app.db'], { env });
      assert.equal(latest.code, 3, latest.stderr);
      assert.equal(latest.stderr.trim().split('\n').length, 1, latest.stderr);
      assert.ok(latest.stderr.includes(`${newer.backup_file}.json is unreadable`), latest.stderr);
      assert.ok(latest.stderr.includes(`--file ${older.backup_file}`), latest.stderr);
      assert.deepEqual(await fs.readFile(path), before, 'the destination is unchanged');
      assert.deepEqual(await tree(target), stored, 'no safety copy or anything else was written to the target');
      assert.deepEqual(await fs.readdir(tmp), [], 'no temp files are left');

      const chosen = await cli(
        ['restore', '--target', target, '--file', older.backup_file, '--to', path, '--confirm', 'app.db', '--no-safety-backup'],
        { env },
      );
      assert.equal(chosen.code, 0, chosen.stderr);
      assert.match(chosen.stdout, new RegExp(`warning: the manifest .*${newer.backup_file}\\.json is unreadable`));
      assert.deepEqual(await fs.readdir(tmp), []);
    });

    test(`the newest manifest ${name}: verify --all and verify --latest exit 3 naming it; info and list show it`, async () => {
      const { target, older, newer } = await setUp(damage);

      const all = await cli(['verify', '--target', target, '--all']);
      assert.equal(all.code, 3, all.stdout + all.stderr);
      assert.match(all.stdout, new RegExp(`^CORRUPT {2}${newer.backup_file}: its manifest is unreadable`, 'm'));
      assert.match(all.stdout, new RegExp(`^ok {7}${older.backup_file} `, 'm'));
      assert.match(all.stderr, /1 of 2 backup\(s\) failed verification/);

      const latest = await cli(['verify', '--target', target, '--json']);
      assert.equal(latest.code, 3, latest.stdout + latest.stderr);
      const results = JSON.parse(latest.stdout) as Array<{ backupFile: string; ok: boolean }>;
      assert.deepEqual(
        results.map((r) => [r.backupFile, r.ok]),
        [
          [newer.backup_file, false],
          [older.backup_file, true],
        ],
      );

      const named = await cli(['verify', '--target', target, '--file', newer.backup_file]);
      assert.equal(named.code, 3, named.stdout + named.stderr);

      const info = await cli(['info', '--target', target]);
      assert.equal(info.code, 0, info.stderr);
      assert.match(info.stdout, /^app\s+sqlite\s+1\s/m, 'the unreadable one is not counted as a backup');
      assert.ok(info.stdout.includes(`unreadable manifest sqlite/app/`), info.stdout);
      const infoJson = JSON.parse((await cli(['info', '--target', target, '--json'])).stdout) as {
        unreadableManifests: Array<{ backupFile: string }>;
      };
      assert.deepEqual(
        infoJson.unreadableManifests.map((p) => p.backupFile),
        [newer.backup_file],
      );

      const list = await cli(['list', '--target', target]);
      assert.equal(list.code, 0, list.stderr);
      assert.match(list.stderr, new RegExp(`warning: unreadable manifest .*${newer.backup_file}\\.json`));
    });
  }

  test('an older damaged manifest does not block restore --latest, which restores the newest and warns', async () => {
    const dir = await tempDir('damaged');
    const path = join(dir, 'app.db');
    await fs.copyFile(chinook, path);
    const target = join(dir, 'b');
    const older = await runBackup({ source: path, target }, { now: () => new Date(Date.now() - 60_000) });
    const newer = await runBackup({ source: path, target });
    await fs.writeFile(`${older.location}.json`, '{"backup_file":');
    const result = await cli(['restore', '--target', target, '--latest', '--to', path, '--confirm', 'app.db', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as { plan: { backup: { location: string } }; warnings: string[] };
    assert.equal(json.plan.backup.location, newer.location);
    assert.ok(json.warnings.some((w) => w.includes(`${older.backup_file}.json is unreadable`)));
  });

  test('on S3, into PostgreSQL: restore --latest refuses before anything is downloaded or connected, and holds no session, lock or object', async () => {
    const db = await createDatabase('damaged');
    try {
      await sql(db, 'create table t (id int); insert into t values (1), (2)');
      const bucket = await createBucket('damaged');
      const target = `s3://${bucket}/x`;
      const older = await runBackup({ source: pgUrl(db), target }, { now: () => new Date(Date.now() - 60_000) });
      const newer: Manifest = await runBackup({ source: pgUrl(db), target });
      await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `${newer.key}.json`, Body: '{"trunc' }));
      await sql(db, 'insert into t values (3)');
      const keys = await bucketKeys(bucket);
      const tmp = await tempDir('damaged-tmp');

      const result = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db], {
        env: { ...process.env, DBBACKUP_TMPDIR: tmp },
      });
      assert.equal(result.code, 3, result.stderr);
      assert.ok(result.stderr.includes(`--file ${older.backup_file}`), result.stderr);
      assert.deepEqual(await sql(db, 'select id from t order by id'), [{ id: 1 }, { id: 2 }, { id: 3 }]);
      assert.deepEqual(await bucketKeys(bucket), keys);
      assert.deepEqual(await fs.readdir(tmp), []);
      await assertNothingHeld(db);
    } finally {
      await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    }
  });

  test('restore --path with an unreadable manifest refuses (exit 3); --no-manifest restores, ignoring it', async () => {
    const dir = await tempDir('damaged');
    const path = join(dir, 'app.db');
    await fs.copyFile(chinook, path);
    const manifest = await runBackup({ source: path, target: join(dir, 'b') });
    await fs.writeFile(`${manifest.location}.json`, '{}');
    const refused = await cli(['restore', '--path', manifest.location, '--to', path, '--confirm', 'app.db']);
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /is unreadable: .*pass --no-manifest to restore anyway/);
    const copy = join(dir, 'copy.db');
    const forced = await cli(['restore', '--path', manifest.location, '--no-manifest', '--to', copy, '--confirm', 'copy.db']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /warning: the backup has no manifest/);
  });

  test('a backup dated a year ahead (a clock that ran ahead, a forged manifest) is not "the latest": restore --latest and drill refuse naming it; --file still reaches it', async () => {
    const { path, target, real, ahead } = await withBackupAhead('future', 365 * 24 * HOUR_MS);
    const tmp = await tempDir('future-tmp');
    const env = { ...process.env, DBBACKUP_TMPDIR: tmp };
    const before = await fs.readFile(path);
    const stored = await tree(target);

    const latest = await cli(['restore', '--target', target, '--latest', '--to', path, '--confirm', 'app.db'], { env });
    assert.equal(latest.code, 3, latest.stderr);
    assert.equal(latest.stderr.trim().split('\n').length, 1, latest.stderr);
    assert.match(latest.stderr, new RegExp(`${literally(ahead.backup_file)}\\.json .*dated .*after now`));
    assert.ok(latest.stderr.includes(`--file ${real.backup_file}`), latest.stderr);
    assert.deepEqual(await fs.readFile(path), before, 'the destination is unchanged');
    assert.deepEqual(await tree(target), stored, 'nothing was written to the target');

    const scratch = await tempDir('future-scratch');
    const drill = await cli(['drill', '--target', target, '--database', 'app', '--into', scratch, '--json']);
    assert.notEqual(drill.code, 0, drill.stdout + drill.stderr);
    assert.match(drill.stdout + drill.stderr, /dated .*after now/);
    assert.deepEqual(await fs.readdir(scratch), [], 'no scratch file left');

    const chosen = await cli(
      ['restore', '--target', target, '--file', ahead.backup_file, '--to', path, '--confirm', 'app.db', '--no-safety-backup'],
      { env },
    );
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.deepEqual(await fs.readdir(tmp), []);
  });

  test('verify --latest does not re-read a backup dated ahead of the clock as "the latest" and call it ok: it names it, as restore --latest does', async () => {
    const { target, real, ahead } = await withBackupAhead('future-verify', 2 * HOUR_MS);

    const latest = await cli(['verify', '--target', target, '--latest']);
    assert.ok(!new RegExp(`ok +${literally(ahead.backup_file)}`).test(latest.stdout), latest.stdout);
    assert.equal(latest.code, 3, latest.stdout + latest.stderr);
    assert.match(latest.stdout + latest.stderr, new RegExp(`${literally(ahead.backup_file)}.*dated .*after now`));
    assert.match(latest.stdout, new RegExp(`ok +${literally(real.backup_file)}`));

    const chosen = await cli(['verify', '--target', target, '--file', ahead.backup_file]);
    assert.equal(chosen.code, 0, chosen.stdout + chosen.stderr);
  });

  test('restore --latest without --database still refuses a target of several databases when one of them is dated ahead of the clock', async () => {
    const dir = await tempDir('future-two');
    const app = join(dir, 'app.db');
    const other = join(dir, 'other.db');
    await fs.copyFile(chinook, app);
    await fs.copyFile(chinook, other);
    const target = join(dir, 'b');
    await runBackup({ source: app, target });
    await runBackup({ source: other, target }, { now: () => new Date(Date.now() + 2 * HOUR_MS) });
    const dest = join(dir, 'dest.db');
    await fs.writeFile(dest, '');

    const latest = await cli([
      'restore',
      '--target',
      target,
      '--latest',
      '--to',
      dest,
      '--confirm',
      'dest.db',
      '--no-safety-backup',
    ]);
    assert.equal(latest.code, 2, latest.stdout + latest.stderr);
    assert.match(latest.stderr, /several databases \(.*app.*other|several databases \(.*other.*app/);
    assert.equal((await fs.stat(dest)).size, 0, 'the destination is unchanged');
  });

  test('a pre-restore copy dated ahead of the clock does not stop restore --latest: it is never "the latest", and it is named', async () => {
    const { path, target, real, ahead: copy } = await withBackupAhead('future-pre', 2 * HOUR_MS, 'pre-restore');
    const tmp = await tempDir('future-pre-tmp');

    const latest = await cli(
      ['restore', '--target', target, '--latest', '--to', path, '--confirm', 'app.db', '--no-safety-backup'],
      {
        env: { ...process.env, DBBACKUP_TMPDIR: tmp },
      },
    );
    assert.equal(latest.code, 0, latest.stderr);
    assert.ok(
      latest.stdout.includes(real.backup_file) || latest.stderr.includes(real.backup_file),
      latest.stdout + latest.stderr,
    );
    assert.match(
      latest.stdout + latest.stderr,
      new RegExp(`${literally(copy.backup_file)}\\.json cannot be believed \\(dated .*after now`),
    );
  });

  test('info does not show a backup dated ahead of the clock as the newest, 0 s old: it names it and counts it as no backup', async () => {
    const { target, real, ahead } = await withBackupAhead('future-info', 2 * HOUR_MS);

    const info = await cli(['info', '--target', target]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^app\s+sqlite\s+1\s/m, info.stdout);
    assert.ok(info.stdout.includes(real.datetime.replace(/\.\d+Z$/, 'Z')), info.stdout);
    assert.match(info.stdout, new RegExp(`${literally(ahead.backup_file)}\\.json.*dated .*after now`));
    const json = JSON.parse((await cli(['info', '--target', target, '--json'])).stdout) as {
      databases: Array<{ newest: string }>;
      unreadableManifests: Array<{ backupFile: string }>;
    };
    assert.deepEqual(
      json.databases.map((d) => d.newest),
      [real.datetime],
    );
    assert.deepEqual(
      json.unreadableManifests.map((p) => p.backupFile),
      [ahead.backup_file],
    );
  });
});
