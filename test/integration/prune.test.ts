import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { formatTimestamp } from '../../shared/backup/backup-key.js';
import type { Manifest } from '../../shared/manifest.js';
import { parsePruneRequest } from '../../shared/retention/prune-request.js';
import { planPrune } from '../../shared/retention/run-prune.js';
import { openTarget } from '../../shared/targets/open-target.js';
import type { Target } from '../../shared/targets/target.js';
import { sqliteOnEfs } from '../harness/fixtures.js';
import { bucketKeys, cli, createBucket, killCliAt, repoRoot, runAllowingFailure, tempDir, treeOf } from '../harness/test-env.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * A directory target holding one real backup of a small SQLite database (taken now) and copies of
 * it as if taken at `times` (scheduled daily runs unless said): the data and a manifest each, with
 * the file's modification time set to when it was "taken", as a target that has been in use looks.
 */
async function targetWithHistory(
  times: ReadonlyArray<{ at: number; kind?: Manifest['kind']; label?: string | null }>,
): Promise<{ dir: string; real: Manifest; keys: string[] }> {
  const dir = await tempDir('prune');
  const source = join(dir, 'app.db');
  const db = new Database(source);
  db.exec('create table t (x); insert into t values (1)');
  db.close();
  const out = join(dir, 'out');
  const real = await runBackup({ source, target: out, name: 'app', kind: 'scheduled', label: 'daily' });
  const data = await fs.readFile(join(out, real.key));
  const keys: string[] = [];
  for (const [i, { at, kind = 'scheduled', label = 'daily' }] of times.entries()) {
    const date = new Date(at);
    const stamp = formatTimestamp(date);
    const fileName = real.backup_file
      .replace(/_\d{8}_\d{6}_/, `_${stamp}_`)
      .replace(/_([0-9a-f]{8})\./, `_${String(i).padStart(8, '0')}.`);
    const key = `sqlite/app/${stamp.slice(0, 4)}/${fileName}`;
    const manifest: Manifest = {
      ...real,
      backup_file: fileName,
      key,
      timestamp: stamp,
      datetime: date.toISOString(),
      kind,
      label,
    };
    await fs.mkdir(dirname(join(out, key)), { recursive: true });
    await fs.writeFile(join(out, key), data);
    await fs.writeFile(join(out, `${key}.json`), JSON.stringify(manifest));
    await fs.utimes(join(out, key), date, date);
    await fs.utimes(join(out, `${key}.json`), date, date);
    keys.push(key);
  }
  return { dir: out, real, keys };
}

const exists = (path: string) =>
  fs.stat(path).then(
    () => true,
    () => false,
  );

/** Ten days of daily runs, the oldest first, each at 23:00 UTC ending yesterday. */
function tenDailies(): Array<{ at: number }> {
  const yesterday = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - DAY + 23 * HOUR;
  return Array.from({ length: 10 }, (_, i) => ({ at: yesterday - (9 - i) * DAY }));
}

describe('dbbackup prune', () => {
  test('shows its plan and deletes nothing with --dry-run or without --yes; with --yes deletes what it showed, manifest and data', async () => {
    const { dir, real, keys } = await targetWithHistory(tenDailies());
    const args = ['prune', '--target', dir, '--database', 'app', '--keep-daily', '3'];
    const before = await treeOf(dir);

    const dry = await cli([...args, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    // Today's real backup and yesterday's stand for the two newest days, the day before for the third.
    assert.match(dry.stdout, new RegExp(`keep .*${real.key}.*newest, daily`));
    for (const key of keys.slice(0, 8)) assert.match(dry.stdout, new RegExp(`DELETE .*${key.replace(/\./g, '\\.')}`));
    const unconfirmed = await cli(args);
    assert.equal(unconfirmed.code, 2);
    assert.match(
      unconfirmed.stderr,
      /dbbackup prune: nothing deleted: the plan above would delete 8 object\(s\)\. run again with --yes/,
    );
    assert.deepEqual(await treeOf(dir), before, 'nothing was deleted');

    const done = await cli([...args, '--yes', '--json']);
    assert.equal(done.code, 0, done.stderr);
    const { result, plan } = JSON.parse(done.stdout);
    assert.deepEqual(result.deleted, keys.slice(0, 8));
    assert.deepEqual(
      plan.keep.map((b: { key: string }) => b.key),
      [...keys.slice(8), real.key],
    );
    for (const key of keys.slice(0, 8)) {
      assert.ok(!(await exists(join(dir, key))), `${key} is gone`);
      assert.ok(!(await exists(join(dir, `${key}.json`))), `${key}.json is gone`);
    }
    const listed = await cli(['list', '--target', dir, '--json']);
    assert.equal(JSON.parse(listed.stdout).length, 3);
  });

  test('a prune killed between a manifest and its data: the next prune removes the data and reports it; a running backup is never touched', async () => {
    const { dir, keys } = await targetWithHistory(tenDailies());
    const args = ['prune', '--target', dir, '--keep-daily', '3', '--yes'];
    await killCliAt('prune', args);
    const [first] = keys as [string];
    assert.ok(!(await exists(join(dir, `${first}.json`))), 'the manifest went first');
    assert.ok(await exists(join(dir, first)), 'the data was left by the kill');

    // A backup still running: its data just stored, its manifest not yet written (key taken now).
    const running = `sqlite/app/${formatTimestamp(new Date()).slice(0, 4)}/backup_app_${formatTimestamp(new Date())}_0000abcd.db.gz`;
    await fs.writeFile(join(dir, running), 'in progress');
    // And one that ran for 30 hours: an old key, but stored just now.
    const longRun = `sqlite/app/${formatTimestamp(new Date(Date.now() - 30 * HOUR)).slice(0, 4)}/backup_app_${formatTimestamp(new Date(Date.now() - 30 * HOUR))}_0000abce.db.gz`;
    await fs.writeFile(join(dir, longRun), 'just finished');

    const again = await cli([...args, '--json']);
    assert.equal(again.code, 0, again.stderr);
    const { result, plan } = JSON.parse(again.stdout);
    assert.deepEqual(
      plan.orphans.map((o: { key: string }) => o.key),
      [first],
    );
    assert.deepEqual(result.orphansRemoved, [first]);
    assert.deepEqual(result.deleted, keys.slice(1, 8));
    assert.ok(!(await exists(join(dir, first))), 'the data of the half-pruned backup is gone');
    assert.ok(await exists(join(dir, running)), "a running backup's data stays");
    assert.ok(await exists(join(dir, longRun)), "a long backup's fresh data stays");
  });

  test('a manifest dated in the future (a machine whose clock ran ahead, or a forged one) is kept and reported, never counted as the newest', async () => {
    const ahead = Date.now() + 365 * DAY;
    const { dir, real, keys } = await targetWithHistory([...tenDailies(), { at: ahead }]);
    const future = keys.at(-1) as string;
    const result = await cli(['prune', '--target', dir, '--database', 'app', '--keep-daily', '1', '--yes', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const { plan } = JSON.parse(result.stdout);
    // Today's real backup is the newest good one: it must survive, whatever a wrong clock wrote.
    assert.deepEqual(plan.keep.find((b: { key: string }) => b.key === real.key)?.reasons, [
      'newest',
      `daily ${real.datetime.slice(0, 10)}`,
    ]);
    assert.ok(await exists(join(dir, real.key)), 'the newest good backup is still there');
    assert.ok(
      (await exists(join(dir, future))) && (await exists(join(dir, `${future}.json`))),
      'the future-dated one is kept, data and manifest',
    );
    assert.deepEqual(
      plan.problems.map((p: { key: string; error: string }) => p.key),
      [`${future}.json`],
    );
    assert.match(plan.problems[0].error, /dated .* after now/);
    assert.match(result.stderr, new RegExp(`warning: .*${future.replace(/\./g, '\\.')}\\.json.*dated`));
  });

  test('a newest manifest whose data is gone is not the newest good backup: the one before it is kept as the newest', async () => {
    const { dir, real, keys } = await targetWithHistory(tenDailies());
    await fs.rm(join(dir, real.key));
    const result = await cli(['prune', '--target', dir, '--database', 'app', '--keep-daily', '1', '--yes', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const { plan } = JSON.parse(result.stdout);
    const yesterday = keys.at(-1) as string;
    assert.deepEqual(plan.keep.find((b: { key: string }) => b.key === yesterday)?.reasons?.[0], 'newest');
    assert.ok(await exists(join(dir, yesterday)), 'a restorable backup is left');
    assert.deepEqual(
      plan.problems.map((p: { key: string }) => p.key),
      [`${real.key}.json`],
    );
    assert.match(plan.problems[0].error, /data .*missing/);
    assert.ok(await exists(join(dir, `${real.key}.json`)), 'the manifest is kept, and reported');
  });

  test("files dbbackup did not lay out are never orphans, however they are named: an older system's backups in the same target stay", async () => {
    const { dir, keys } = await targetWithHistory(tenDailies());
    const old = new Date(Date.now() - 400 * DAY);
    const foreign = [
      // What the systems this tool grew from wrote: backup_<name>_<stamp> at the top, or in folders of their own.
      'backup_school_20240101_230000.sql.gz',
      'django/backup_school_20240102_230000.sql.gz',
      'sqlite/app/backup_app_20240103_230000.db.gz',
      'sqlite/app/2024/notes/backup_app_20240104_230000.db.gz',
    ];
    for (const key of foreign) {
      await fs.mkdir(dirname(join(dir, key)), { recursive: true });
      await fs.writeFile(join(dir, key), 'not ours');
      await fs.utimes(join(dir, key), old, old);
    }
    // One of ours that lost its manifest: an orphan as before.
    const [first] = keys as [string];
    await fs.rm(join(dir, `${first}.json`));
    const result = await cli(['prune', '--target', dir, '--keep-daily', '3', '--yes', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const { plan } = JSON.parse(result.stdout);
    assert.deepEqual(
      plan.orphans.map((o: { key: string }) => o.key),
      [first],
    );
    for (const key of foreign) assert.ok(await exists(join(dir, key)), `${key} is left alone`);
  });

  test('bad input is one line naming the fix, exit 2, and nothing is deleted', async () => {
    const { dir } = await targetWithHistory(tenDailies());
    const before = await treeOf(dir);
    const none = await cli(['prune', '--target', dir, '--yes']);
    assert.equal(none.code, 2);
    assert.equal(
      none.stderr.trim(),
      'dbbackup prune: no retention policy: nothing would be kept but the newest backup of each database. give at least one of --keep-daily N, --keep-weekly N, --keep-monthly N or --keep-within DURATION',
    );
    // A policy of nothing written another way is no policy either.
    const zero = await cli(['prune', '--target', dir, '--keep-within', '0s', '--yes']);
    assert.equal(zero.code, 2, zero.stdout + zero.stderr);
    assert.match(zero.stderr, /^dbbackup prune: no retention policy/);
    const negative = await cli(['prune', '--target', dir, '--keep-daily', '-1', '--yes']);
    assert.equal(negative.code, 2);
    assert.match(negative.stderr, /^dbbackup prune: --keep-daily: must be 0 or more \(got -1\)\n$/);
    const zone = await cli(['prune', '--target', dir, '--keep-daily', '1', '--time-zone', 'Mars/Base', '--yes']);
    assert.equal(zone.code, 2);
    assert.match(zone.stderr, /^dbbackup prune: --time-zone: must be an IANA time zone/);
    const orphans = await cli(['prune', '--target', dir, '--keep-daily', '1', '--orphans-after', '5m', '--yes']);
    assert.equal(orphans.code, 2);
    assert.match(orphans.stderr, /^dbbackup prune: --orphans-after: must be at least 1h/);
    const missing = await cli(['prune', '--target', join(dir, 'nope'), '--keep-daily', '1', '--yes']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^dbbackup prune: backup target .*nope does not exist\. check --target\n$/);
    assert.deepEqual(await treeOf(dir), before);
  });

  test('in S3: old backups and run records are deleted, pre-restore copies kept while young', async () => {
    const bucket = await createBucket('prune');
    const target = await openTarget(`s3://${bucket}`);
    const source = join(await tempDir('prune-s3'), 'app.db');
    const db = new Database(source);
    db.exec('create table t (x)');
    db.close();
    const newest = await runBackup({ source, target: `s3://${bucket}`, name: 'app' });
    const copy = await runBackup({ source, target: `s3://${bucket}/pre-restore`, name: 'app', kind: 'pre-restore' });
    const oldRun = 'runs/sqlite/app/2024/20240101_230000_scheduled_0123456789abcdef.jsonl';
    await target.put(oldRun, Readable.from([Buffer.from('{}\n')]), { contentType: 'application/jsonl' });
    const result = await cli(
      ['prune', '--target', `s3://${bucket}`, '--database', 'app', '--keep-daily', '1', '--yes', '--json'],
      {
        env: { ...process.env, AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required' },
      },
    );
    assert.equal(result.code, 0, result.stderr);
    const { plan } = JSON.parse(result.stdout);
    assert.deepEqual(
      plan.keep.map((b: { key: string; reasons: string[] }) => [b.key, b.reasons[0]]).sort(),
      [
        [copy.key, 'pre-restore copy, younger than 30 days'],
        [newest.key, 'newest'],
      ].sort(),
    );
    assert.deepEqual(plan.runRecords, [oldRun]);
    assert.ok(!(await bucketKeys(bucket)).includes(oldRun));
  });

  test('Object Lock keeps a backup the policy would delete (a stand-in reports the lock: s3rver has no Object Lock)', async () => {
    const { dir, keys } = await targetWithHistory(tenDailies());
    const real = await openTarget(dir);
    const locked = keys[0] as string;
    const until = new Date(Date.now() + 5 * DAY);
    // Stand-in: what S3's HeadObject says of a locked object (ObjectLockRetainUntilDate).
    const lockedTarget: Target = Object.assign(Object.create(real) as Target, {
      stat: async (key: string) => {
        const stat = await real.stat(key);
        return stat && key.startsWith(locked) ? { ...stat, retainUntil: until } : stat;
      },
    });
    const plan = await planPrune(lockedTarget, parsePruneRequest({ keepDaily: 3 }), new Date());
    assert.deepEqual(plan.keep.find((b) => b.key === locked)?.reasons, [`object lock until ${until.toISOString()}`]);
    assert.deepEqual(
      plan.delete.map((b) => b.key),
      keys.slice(1, 8),
    );
  });

  test("the deployment's prune function prunes a database by its config's retention, in the deployment's time zone", async () => {
    const bucket = await createBucket('prune-fn');
    const target = await openTarget(`s3://${bucket}`);
    const source = join(await tempDir('prune-fn'), 'app.db');
    const db = new Database(source);
    db.exec('create table t (x)');
    db.close();
    const real = await runBackup({ source, target: `s3://${bucket}`, name: 'app', kind: 'scheduled', label: 'daily' });
    const data = await buffer(await target.get(real.key));
    // Ten earlier daily runs, one a day.
    const keys: string[] = [];
    for (let i = 1; i <= 10; i++) {
      const date = new Date(Date.now() - i * DAY);
      const stamp = formatTimestamp(date);
      const fileName = real.backup_file.replace(/_\d{8}_\d{6}_[0-9a-f]{8}\./, `_${stamp}_${String(i).padStart(8, '0')}.`);
      const key = `sqlite/app/${stamp.slice(0, 4)}/${fileName}`;
      await target.put(key, Readable.from([data]), { contentType: 'application/gzip' });
      const manifest: Manifest = { ...real, backup_file: fileName, key, timestamp: stamp, datetime: date.toISOString() };
      await target.put(`${key}.json`, Readable.from([Buffer.from(JSON.stringify(manifest))]), {
        contentType: 'application/json',
      });
      keys.push(key);
    }
    // A manifest damaged in the bucket: kept, and said in the result and the log, never passed over in silence.
    const damaged = `sqlite/app/${formatTimestamp(new Date()).slice(0, 4)}/backup_app_20200101_000000_0000dead.db.gz.json`;
    await target.put(damaged, Readable.from([Buffer.from('{"truncated')]), { contentType: 'application/json' });
    const config = {
      timeZone: 'Europe/Berlin',
      alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
      databases: [{ ...sqliteOnEfs('app'), retention: { daily: 3, weekly: 1, monthly: 1 } }],
    };
    const run = await runAllowingFailure(
      process.execPath,
      [
        join(repoRoot, 'dist/test/harness/invoke-handler.js'),
        join(repoRoot, 'dist/functions/prune.js'),
        JSON.stringify({ database: 'app' }),
      ],
      { env: { ...process.env, DBBACKUP_BUCKET: bucket, DBBACKUP_CONFIG: JSON.stringify(config), AWS_REGION: 'us-east-1' } },
    );
    const last = run.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(last, /^RESULT /, run.stdout + run.stderr);
    const result = JSON.parse(last.slice('RESULT '.length)) as {
      deleted: string[];
      kept: number;
      problems: Array<{ key: string }>;
    };
    assert.deepEqual(
      result.problems.map((p) => p.key),
      [damaged],
    );
    assert.match(run.stdout + run.stderr, /manifests kept unread.*0000dead/);
    // Kept: today's (newest, daily, weekly, monthly) and the two days before; at most one more
    // when the oldest of those opened a week or month of its own.
    assert.ok(result.kept >= 3 && result.kept <= 5, JSON.stringify(result));
    assert.equal(result.deleted.length, 11 - result.kept);
    const left = await bucketKeys(bucket);
    for (const key of result.deleted) assert.ok(!left.includes(key) && !left.includes(`${key}.json`), key);
    assert.ok(left.includes(real.key));
  });
});
