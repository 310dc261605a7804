import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { before, describe, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { runBackup } from '../../shared/backup/run-backup.js';
import type { HealthReport } from '../../shared/health/assess-health.js';
import { newRunId, RUN_RECORD_VERSION, runRecordKey, writeRunRecord } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { cli, createBucket, createDatabase, pgUrl, s3Client, sampleCopy, sql, tempDir } from '../harness/test-env.js';

const sqliteChinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');
const HOUR = 3_600_000;

/** A scheduled backup of `tier` as if taken `hoursAgo` hours ago (the run's clock, injected). */
function scheduled(source: string, target: string, tier: string, hoursAgo = 0) {
  return runBackup({ source, target, kind: 'scheduled', label: tier }, { now: () => new Date(Date.now() - hoursAgo * HOUR) });
}

/** A small PostgreSQL database with two tables holding rows. */
async function schoolDatabase(): Promise<string> {
  const db = await createDatabase('health');
  await sql(
    db,
    `create table pupils (id int primary key, name text);
     insert into pupils select i, 'pupil ' || i from generate_series(1, 200) i;
     create table grades (pupil int, grade int);
     insert into grades select i % 200 + 1, i % 6 from generate_series(1, 1000) i;`,
  );
  return db;
}

describe('health', () => {
  let bucket: string;
  let db: string;

  before(async () => {
    [bucket, db] = await Promise.all([createBucket('health'), schoolDatabase()]);
  });

  test('recent, readable backups of PostgreSQL and SQLite on S3: exit 0, one ok line per database, and a JSON report', async () => {
    const target = `s3://${bucket}/healthy`;
    await scheduled(pgUrl(db), target, 'daily', 2);
    await scheduled(pgUrl(db), target, 'daily');
    await scheduled(pgUrl(db), target, 'weekly', 24 * 3);
    await scheduled(sqliteChinook, target, 'daily', 1);

    const result = await cli(['health', '--target', target]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`^ok {7}${db}: daily 0 h old, weekly 3 days old; 3 verified$`, 'm'));
    assert.match(result.stdout, /^ok {7}Chinook_Sqlite: daily 1 h old; 1 verified$/m);
    assert.match(result.stdout, /^2 database\(s\): 2 healthy, 0 with warnings, 0 broken$/m);

    const json = await cli(['health', '--target', target, '--json', '--verify', '1']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as HealthReport;
    assert.equal(report.status, 'healthy');
    assert.deepEqual(report.findings, []);
    const pg = report.databases.find((d) => d.database === db);
    assert.deepEqual(
      pg?.tiers.map((t) => [t.tier, t.maxAgeHours, t.stale]),
      [
        ['daily', 26, false],
        ['weekly', 192, false],
      ],
    );
    assert.equal(pg?.verified.length, 1);
  });

  test('a daily backup older than 26 hours, in a directory: exit 3 naming the tier, its age and the limit; a longer --max-age accepts it', async () => {
    const dir = await tempDir('health');
    await scheduled(sqliteChinook, dir, 'daily', 30);
    await scheduled(sqliteChinook, dir, 'weekly', 24 * 9);

    const result = await cli(['health', '--target', dir]);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stdout, /^BROKEN {3}the newest good daily backup of Chinook_Sqlite is 30 h old \(limit 26 h\)$/m);
    assert.match(result.stdout, /^BROKEN {3}the newest good weekly backup of Chinook_Sqlite is 9 days old \(limit 8 days\)$/m);
    assert.match(result.stdout, /^1 database\(s\): 0 healthy, 0 with warnings, 1 broken$/m);

    const relaxed = await cli(['health', '--target', dir, '--max-age', 'daily=2d,weekly=10d']);
    assert.equal(relaxed.code, 0, relaxed.stdout + relaxed.stderr);
  });

  test('a backup dated in the future (a clock that ran ahead) hides no stale tier: exit 3 naming it, the age counts from the real newest', async () => {
    const dir = await tempDir('health');
    await scheduled(sqliteChinook, dir, 'daily', 30);
    const ahead = await scheduled(sqliteChinook, dir, 'daily', -24 * 365);

    const result = await cli(['health', '--target', dir]);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stdout, /^BROKEN {3}the newest good daily backup of Chinook_Sqlite is 30 h old \(limit 26 h\)$/m);
    assert.match(result.stdout, new RegExp(`^BROKEN .*${ahead.backup_file.replace(/\./g, '\\.')}.*dated .* after now`, 'm'));
  });

  test('a tier named in --max-age is checked even when it has no backup, for one database or all: exit 3', async () => {
    const dir = await tempDir('health');
    await scheduled(sqliteChinook, dir, 'daily');
    const result = await cli(['health', '--target', dir, '--database', 'Chinook_Sqlite', '--max-age', 'monthly=32d']);
    assert.equal(result.code, 3, result.stdout + result.stderr);
    assert.match(result.stdout, /^BROKEN {3}Chinook_Sqlite has no good monthly backup$/m);
    const all = await cli(['health', '--target', dir, '--max-age', 'monthly=32d']);
    assert.equal(all.code, 3, all.stdout + all.stderr);
    assert.match(all.stdout, /^BROKEN {3}Chinook_Sqlite has no good monthly backup$/m);
  });

  test('one byte flipped in the newest stored backup on S3: exit 3 naming the file; the age counts from the good one before it', async () => {
    const target = `s3://${bucket}/corrupt`;
    await scheduled(pgUrl(db), target, 'daily', 30);
    const newest = await scheduled(pgUrl(db), target, 'daily', 1);
    const key = newest.key;
    const s3 = s3Client();
    const bytes = Buffer.from(
      await ((await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body?.transformToByteArray() ?? []),
    );
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] as number) ^ 0x01;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));

    const result = await cli(['health', '--target', target, '--json']);
    assert.equal(result.code, 3, result.stderr);
    const report = JSON.parse(result.stdout) as HealthReport;
    assert.deepEqual(
      report.findings.map((f) => [f.kind, f.backupFile]),
      [
        ['corrupt', newest.backup_file],
        ['stale', report.findings[1]?.backupFile],
      ],
    );
    assert.notEqual(report.findings[1]?.backupFile, newest.backup_file);
    assert.match(report.findings[0]?.message ?? '', /failed verification: the (stored backup|content) is corrupt/);
  });

  test('a table emptied between two backups: exit 1, a warning naming the table and its row count before', async () => {
    const own = await schoolDatabase();
    const dir = await tempDir('health');
    await scheduled(pgUrl(own), dir, 'daily', 2);
    await sql(own, 'delete from grades');
    await scheduled(pgUrl(own), dir, 'daily');

    const result = await cli(['health', '--target', dir]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^WARNING {2}table public\.grades is empty in backup_.* \(1000 rows before\)$/m);
    assert.doesNotMatch(result.stdout, /pupils/);
    assert.match(result.stdout, /^1 database\(s\): 0 healthy, 1 with warnings, 0 broken$/m);
  });

  test('a SQLite table that lost most of its rows, and one dropped: warnings naming each', async () => {
    const dir = await tempDir('health');
    const file = join(await tempDir('health-src'), 'app.db');
    await fs.copyFile(sqliteChinook, file);
    await scheduled(file, dir, 'daily', 2);
    const app = new Database(file);
    app.exec('PRAGMA foreign_keys = OFF; DELETE FROM Track WHERE TrackId > 100; DROP TABLE PlaylistTrack;');
    app.close();
    await scheduled(file, dir, 'daily');

    const result = await cli(['health', '--target', dir, '--json']);
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as HealthReport;
    assert.deepEqual(report.findings.map((f) => [f.severity, f.kind, f.table]).sort(), [
      ['warning', 'rows-dropped', 'Track'],
      ['warning', 'table-missing', 'PlaylistTrack'],
    ]);
  });

  test('no backups: exit 3, for an empty target and for a named database without any', async () => {
    const dir = await tempDir('health');
    const empty = await cli(['health', '--target', dir]);
    assert.equal(empty.code, 3, empty.stdout + empty.stderr);
    assert.match(empty.stdout, /^BROKEN {3}no backups in /m);
    await scheduled(sqliteChinook, dir, 'daily');
    const named = await cli(['health', '--target', dir, '--database', 'school']);
    assert.equal(named.code, 3, named.stdout + named.stderr);
    assert.match(named.stdout, /^BROKEN {3}school has no backups$/m);
  });

  test('--drill-max-age: a drill passed within it is ok; a database whose history is older without one is a warning (exit 1)', async () => {
    const dir = await tempDir('health-drills');
    const copy = join(dir, 'source');
    await fs.mkdir(copy);
    const drilled = join(copy, 'drilled.db');
    const undrilled = join(copy, 'undrilled.db');
    await fs.copyFile(sqliteChinook, drilled);
    await fs.copyFile(sqliteChinook, undrilled);
    const target = join(dir, 'backups');
    await scheduled(drilled, target, 'daily', 1);
    await scheduled(undrilled, target, 'daily', 40 * 24);
    await scheduled(undrilled, target, 'daily', 1);
    const drill = await cli(['drill', '--target', target, '--database', 'drilled']);
    assert.equal(drill.code, 0, drill.stdout + drill.stderr);

    const without = await cli(['health', '--target', target]);
    assert.equal(without.code, 0, 'drills are checked only when asked: ' + without.stdout);
    const result = await cli(['health', '--target', target, '--drill-max-age', '35']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^ok {7}drilled: daily 1 h old; 1 verified; drill passed 0 h ago$/m);
    assert.match(
      result.stdout,
      /^WARNING {2}no restore drill of undrilled has passed in the 40 days since its first run \(limit 35\); none has run$/m,
    );
    const json = JSON.parse(
      (await cli(['health', '--target', target, '--drill-max-age', '35', '--json'])).stdout,
    ) as HealthReport;
    const undrilledHealth = json.databases.find((d) => d.database === 'undrilled');
    assert.equal(undrilledHealth?.drill?.overdue, true);
    assert.equal(Math.round(undrilledHealth?.drill?.daysWithoutPassedDrill ?? 0), 40);
    const longer = await cli(['health', '--target', target, '--drill-max-age', '45']);
    assert.equal(longer.code, 0, longer.stdout);
  });

  test('--drill-max-age: a drill record dated in the future, or one named a drill that is a backup run, proves no drill passed', async () => {
    const dir = await tempDir('health-forged-drills');
    const source = join(dir, 'undrilled.db');
    await fs.copyFile(sqliteChinook, source);
    const target = join(dir, 'backups');
    await scheduled(source, target, 'daily', 40 * 24);
    const newest = await scheduled(source, target, 'daily', 1);
    const passed = {
      record_version: RUN_RECORD_VERSION,
      run_id: newRunId(),
      database: 'undrilled',
      engine: 'sqlite',
      kind: 'drill',
      tier: null,
      result: 'succeeded',
      error: null,
      started_at: new Date(Date.now() + 365 * 24 * HOUR).toISOString(),
      ended_at: new Date(Date.now() + 365 * 24 * HOUR + 1000).toISOString(),
      duration_ms: 1000,
      source_bytes: 1,
      stored_bytes: 1,
      compression_ratio: 1,
      compression: 'gzip',
      backup_key: newest.key,
      client_version: {},
      tool_version: 'x',
    } as const;
    // A clock that ran ahead: a passed drill "next year".
    assert.ok('key' in (await writeRunRecord(await openTarget(target), passed)));
    // A backup run's record stored under a drill's name (a hand-copied or forged file).
    const now = new Date(Date.now() - HOUR);
    const misnamed = {
      ...passed,
      run_id: newRunId(),
      kind: 'scheduled',
      tier: 'daily',
      started_at: now.toISOString(),
      ended_at: now.toISOString(),
    };
    const key = runRecordKey({ ...misnamed, kind: 'drill' });
    await fs.mkdir(dirname(join(target, key)), { recursive: true });
    await fs.writeFile(join(target, key), `${JSON.stringify(misnamed)}\n`);

    const result = await cli(['health', '--target', target, '--drill-max-age', '35']);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /^WARNING {2}no restore drill of undrilled has passed in the 40 days since its first run \(limit 35\)/m,
    );
  });

  test('bad flags: exit 2 with one line naming the flag and the value, before reading anything', async () => {
    const missing = join(await tempDir('health'), 'not-there');
    for (const [args, problem] of [
      [['--max-age', 'daily=soon'], /"daily=soon" is not TIER=AGE/],
      [['--verify', '-1'], /--verify must be 0 or more/],
      [['--verify', 'two'], /--verify must be a whole number/],
      [['--shrink-percent', '0'], /--shrink-percent must be a percentage above 0 and at most 100/],
      [['--rows-drop-percent', '150'], /--rows-drop-percent must be a percentage/],
      [['--drill-max-age', '0'], /--drill-max-age must be a number of days above 0/],
      [['--drill-max-age', 'monthly'], /--drill-max-age must be a number of days above 0/],
    ] as const) {
      const result = await cli(['health', '--target', missing, ...args]);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, problem);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.trim().split('\n')[0]?.startsWith('error:'), true, result.stderr);
    }
  });
});
