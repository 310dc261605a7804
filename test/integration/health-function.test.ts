import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { writeRunRecord } from '../../shared/runs/run-record.js';
import { runRecordOf, sqliteOnEfs } from '../harness/fixtures.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { sentEmails } from '../harness/ses-server.js';
import { createBucket, repoRoot, runAllowingFailure, sampleCopy } from '../harness/test-env.js';

const sqliteChinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');
const HOUR = 3_600_000;

/** Runs the compiled health handler in a child process, as the Lambda runtime would. */
/** The health function run once over `bucket` with `config` as its deployment config. */
async function invokeHealth(bucket: string, config: unknown) {
  const env = { ...process.env, DBBACKUP_BUCKET: bucket, DBBACKUP_CONFIG: JSON.stringify(config), AWS_REGION: 'us-east-1' };
  const result = await runAllowingFailure(
    process.execPath,
    [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, 'dist/functions/health.js'), '{}'],
    { env },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  return { ...result, last };
}

/** Every metric the run published in the embedded metric format (its stdout): name, value and dimensions. */
function publishedMetrics(stdout: string): Array<{ name: string; value: number; dimensions: Record<string, string> }> {
  return stdout
    .split('\n')
    .filter((line) => line.includes('"CloudWatchMetrics"'))
    .flatMap((line) => {
      const emf = JSON.parse(line) as Record<string, unknown> & {
        _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
      };
      const [directive] = emf._aws.CloudWatchMetrics;
      assert.equal(directive?.Namespace, 'dbbackup');
      const dimensions = Object.fromEntries((directive?.Dimensions[0] ?? []).map((k) => [k, String(emf[k])]));
      return (directive?.Metrics ?? []).map((m) => ({ name: m.Name, value: Number(emf[m.Name]), dimensions }));
    });
}

describe('the health function (compiled, in a child process)', () => {
  let bucket: string;

  before(async () => {
    bucket = await createBucket('health-fn');
    const backup = (name: string, hoursAgo: number) =>
      runBackup(
        { source: sqliteChinook, target: `s3://${bucket}`, name, kind: 'scheduled', label: 'daily' },
        { now: () => new Date(Date.now() - hoursAgo * HOUR) },
      );
    await backup('fresh', 1);
    await backup('stale', 30);
  });

  /**
   * A database of the config, only its daily tier enabled. The function reads only names and
   * schedules (its config secret holds no more); DBBACKUP_CONFIG, which every function of a test
   * reads at its cold start, holds whole entries.
   */
  const database = (name: string) => ({
    name,
    engine: 'postgres',
    host: '127.0.0.1',
    database: name,
    secretArn: `arn:aws:secretsmanager:us-east-1:123456789012:secret:${name}-AbCdEf`,
    schedules: { weekly: { hour: 4, enabled: false }, monthly: { hour: 3, enabled: false } },
  });

  test('one stale database: the email names it, its age and the limit; each database’s age and counts are published', async () => {
    const config = {
      alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
      databases: [database('fresh'), database('stale')],
    };
    const result = await invokeHealth(bucket, config);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(result.last, 'RESULT {"status":"broken","findings":1}');

    const published = publishedMetrics(result.stdout);
    const age = (name: string) =>
      published.find((m) => m.name === 'BackupAgeHours' && m.dimensions.database === name && m.dimensions.tier === 'daily');
    assert.deepEqual(age('stale')?.dimensions, { service: 'dbbackup', database: 'stale', tier: 'daily' });
    assert.ok(Math.abs((age('stale')?.value ?? 0) - 30) < 0.1, `stale: ${age('stale')?.value}`);
    assert.ok(Math.abs((age('fresh')?.value ?? 0) - 1) < 0.1, `fresh: ${age('fresh')?.value}`);
    assert.equal(
      published.filter((m) => m.name === 'BackupAgeHours').length,
      2,
      'no age for a disabled tier, none for weekly or monthly',
    );
    for (const name of ['fresh', 'stale']) {
      const counts = published.filter((m) => m.dimensions.database === name && !('tier' in m.dimensions));
      assert.deepEqual(
        Object.fromEntries(counts.map((m) => [m.name, m.value])),
        { HealthyBackups: 1, CorruptBackups: 0, BackupAnomalies: 0 },
        name,
      );
    }

    const mails = (await sentEmails()).filter((e) => e.subject.startsWith('[dbbackup] health'));
    assert.equal(mails.length, 1, JSON.stringify(mails.map((m) => m.subject)));
    const [mail] = mails;
    assert.equal(mail?.subject, '[dbbackup] health BROKEN: the newest good daily backup of stale is 30 h old (limit 26 h)');
    assert.deepEqual(mail?.destination.to, ['ops@example.com']);
    assert.match(mail?.body.text ?? '', /^ok {7}fresh: daily 1 h old; 1 verified$/m);
    assert.match(mail?.body.text ?? '', /^2 database\(s\): 1 healthy, 0 with warnings, 1 broken$/m);
  });

  test('a drilled database without a passed drill in 35 days: its days are published and the email says so; a new one has grace', async () => {
    const DAY = 24 * HOUR;
    const target = await openTarget(`s3://${bucket}`);
    await runBackup(
      { source: sqliteChinook, target: `s3://${bucket}`, name: 'drilled', kind: 'scheduled', label: 'daily' },
      { now: () => new Date(Date.now() - 2 * HOUR) },
    );
    await runBackup(
      { source: sqliteChinook, target: `s3://${bucket}`, name: 'newcomer', kind: 'scheduled', label: 'daily' },
      { now: () => new Date(Date.now() - 3 * DAY) },
    );
    await runBackup(
      { source: sqliteChinook, target: `s3://${bucket}`, name: 'newcomer', kind: 'scheduled', label: 'daily' },
      { now: () => new Date(Date.now() - 2 * HOUR) },
    );
    const drill = (database: string, daysAgo: number, result: 'succeeded' | 'failed', error?: string) =>
      writeRunRecord(
        target,
        runRecordOf({ database, kind: 'drill', started: new Date(Date.now() - daysAgo * DAY), result, error, durationMs: 5000 }),
      );
    await drill('drilled', 40, 'succeeded');
    await drill('drilled', 10, 'failed', 'the restored table "albums" has 3 rows, the backup 347');
    const sqlite = (name: string, withDrill: boolean) => ({
      ...sqliteOnEfs(name),
      schedules: { weekly: { hour: 4, enabled: false }, monthly: { hour: 3, enabled: false } },
      ...(withDrill ? { drill: { enabled: true } } : {}),
    });
    const config = {
      alerts: { sender: 'backups@example.com', recipients: ['drills@example.com'] },
      databases: [sqlite('drilled', true), sqlite('newcomer', true), sqlite('fresh', false)],
    };
    const result = await invokeHealth(bucket, config);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(result.last, 'RESULT {"status":"warning","findings":1}', result.stdout + result.stderr);
    const days = Object.fromEntries(
      publishedMetrics(result.stdout)
        .filter((m) => m.name === 'DaysWithoutPassedDrill')
        .map((m) => [m.dimensions.database, Math.round(m.value)]),
    );
    assert.deepEqual(days, { drilled: 40, newcomer: 3 }, 'none for a database without a drill');
    const mails = (await sentEmails()).filter((e) => e.destination.to.includes('drills@example.com'));
    assert.equal(mails.length, 1);
    const line =
      'WARNING  no restore drill of drilled has passed in 40 days (limit 35); the last one, ' +
      new Date(Date.now() - 10 * DAY).toISOString().slice(0, 10) +
      ', failed: the restored table "albums" has 3 rows, the backup 347';
    assert.ok(mails[0]?.subject.startsWith('[dbbackup] health WARNING: no restore drill of drilled has passed in 40 days'));
    assert.ok((mails[0]?.body.text ?? '').split('\n').includes(line), mails[0]?.body.text);
  });

  test('all healthy: no email, except on the weekday health.allHealthyEmail names, in the deployment’s time zone', async () => {
    const weekday = (offsetDays: number) =>
      new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', weekday: 'short' })
        .format(new Date(Date.now() + offsetDays * 24 * HOUR))
        .toUpperCase();
    const healthyMails = async () =>
      (await sentEmails()).filter((e) => e.subject === '[dbbackup] health: all 1 database(s) healthy').length;
    const before = await healthyMails();
    for (const [day, mails] of [
      [weekday(1), 0],
      [weekday(0), 1],
    ] as const) {
      const config = {
        alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
        health: { allHealthyEmail: day },
        databases: [database('fresh')],
      };
      const result = await invokeHealth(bucket, config);
      assert.equal(result.last, 'RESULT {"status":"healthy","findings":0}', result.stdout + result.stderr);
      assert.equal((await healthyMails()) - before, mails, day);
    }
  });

  test('a health check that cannot run (no such bucket) emails why, and the invocation fails', async () => {
    const config = {
      alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
      databases: [database('fresh')],
    };
    const result = await invokeHealth('no-such-bucket-health', config);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.last, /^ERROR /);
    const mails = (await sentEmails()).filter((e) => e.subject.startsWith('[dbbackup] health check FAILED: '));
    assert.equal(mails.length, 1);
    assert.match(mails[0]?.subject ?? '', /no-such-bucket-health/);
  });
});
