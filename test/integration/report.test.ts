import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { formatTimestamp } from '../../shared/backup/backup-key.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import type { Report } from '../../shared/report/build-report.js';
import { STORAGE_PRICES } from '../../shared/report/storage-prices.js';
import { HISTORY, HOSTILE_DATABASE, HOSTILE_ERROR, writeHistory } from '../harness/report-history.js';
import { cli, tempDir } from '../harness/test-env.js';

const GIB = 1024 ** 3;
const HOUR = 3_600_000;
const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

describe('dbbackup report', () => {
  let target = '';
  before(async () => {
    target = join(await tempDir('report'), 'backups');
    await writeHistory(target);
  });

  async function jsonReport(...args: string[]): Promise<Report> {
    const run = await cli(['report', '--target', target, '--json', ...args]);
    assert.equal(run.code, 0, run.stderr);
    return JSON.parse(run.stdout) as Report;
  }

  test('--json: runs, failures, errors, durations and their trend, per database and overall', async () => {
    const report = await jsonReport('--days', '28');
    assert.equal(report.reportVersion, 1);
    assert.deepEqual(
      report.databases.map((d) => d.database),
      [HOSTILE_DATABASE, 'app.db', 'tidy.db'],
    );
    const app = report.databases.find((d) => d.database === 'app.db');
    assert.ok(app);
    assert.equal(app.runs, 10);
    assert.equal(app.failures, 2);
    assert.equal(app.successRate, 0.8);
    assert.deepEqual(app.topErrors, [{ error: HOSTILE_ERROR, count: 2 }]);
    const good = HISTORY['app.db'].runs.filter((r) => r.result === 'succeeded').map((r) => r.durationMs);
    assert.equal(app.durationMs?.average, Math.round(mean(good)));
    assert.equal(app.durationMs?.min, Math.min(...good));
    assert.equal(app.durationMs?.max, Math.max(...good));
    // The history grows 1.5 minutes a week: the least-squares slope finds it.
    assert.ok(Math.abs((app.durationMs?.trendMsPerWeek ?? 0) - 90_000) < 100, String(app.durationMs?.trendMsPerWeek));

    // Drills are not backup runs: tidy.db has 4 runs and its drill counts as a restore test.
    const tidy = report.databases.find((d) => d.database === 'tidy.db');
    assert.equal(tidy?.runs, 4);
    assert.equal(tidy?.restoreTest.daysSince, 2);
    assert.equal(report.overall.runs, 10 + 4 + 1);
    assert.equal(report.overall.failures, 3);
    assert.deepEqual(report.overall.topErrors, [{ error: HOSTILE_ERROR, count: 3 }]);
  });

  test('--json: stored size, its growth, cost per storage class at the dated price table, compression ratio', async () => {
    const report = await jsonReport('--days', '28');
    const app = report.databases.find((d) => d.database === 'app.db');
    assert.ok(app);
    const backups = HISTORY['app.db'].backups;
    assert.equal(app.stored.backups, backups.length);
    assert.equal(
      app.stored.bytes,
      backups.reduce((s, b) => s + b.bytes, 0),
    );
    assert.equal(app.stored.newestBytes, 15_000_000);
    // 1 MB every 5 days: 1.4 MB a week.
    assert.ok(Math.abs((app.stored.growthBytesPerWeek ?? 0) - 1_400_000) < 1, String(app.stored.growthBytesPerWeek));
    const costOf = (cls: 'GLACIER_IR' | 'STANDARD') =>
      (backups.filter((b) => b.storageClass === cls).reduce((s, b) => s + b.bytes, 0) / GIB) * STORAGE_PRICES.perGbMonth[cls];
    const byClass = Object.fromEntries(app.stored.byClass.map((c) => [c.storageClass, c]));
    assert.equal(byClass.STANDARD?.backups, 3);
    assert.ok(Math.abs((byClass.STANDARD?.usdPerMonth ?? 0) - costOf('STANDARD')) < 1e-9);
    assert.ok(Math.abs((byClass.GLACIER_IR?.usdPerMonth ?? 0) - costOf('GLACIER_IR')) < 1e-9);
    assert.ok(Math.abs(app.stored.usdPerMonth - costOf('STANDARD') - costOf('GLACIER_IR')) < 1e-9);
    assert.ok((app.stored.projectedUsdPerMonthIn12Weeks ?? 0) > app.stored.usdPerMonth);
    assert.equal(app.stored.compressionRatio, 1.5);
    assert.equal(report.databases.find((d) => d.database === 'tidy.db')?.stored.compressionRatio, 5);
    assert.equal(report.prices.region, 'us-east-1');
    assert.match(report.prices.note, /vary by region/);
  });

  test('recommendations follow the numbers: slow, failing, near the Lambda limit, poorly compressed, untested, a table stopped growing; none for a healthy database', async () => {
    const report = await jsonReport('--days', '28');
    const codes = (database: string) =>
      report.recommendations
        .filter((r) => r.database === database)
        .map((r) => r.code)
        .sort();
    assert.deepEqual(codes('app.db'), [
      'approaching-lambda-limit',
      'frequent-failures',
      'low-compression',
      'not-restore-tested',
      'slow-backups',
      'table-stopped-growing',
    ]);
    assert.deepEqual(codes('tidy.db'), []);
    const stalled = report.recommendations.find((r) => r.code === 'table-stopped-growing');
    assert.match(stalled?.message ?? '', /table Invoice .* 200 rows since/);
    assert.deepEqual(
      report.databases.find((d) => d.database === 'app.db')?.stalledTables.map((t) => t.table),
      ['Invoice'],
    );
  });

  test('the window: --days 7 counts only the runs of the last 7 days; --database only that database', async () => {
    const week = await jsonReport();
    assert.equal(week.window.days, 7);
    assert.equal(week.databases.find((d) => d.database === 'app.db')?.runs, 3);
    const one = await jsonReport('--days', '28', '--database', 'tidy.db');
    assert.deepEqual(
      one.databases.map((d) => d.database),
      ['tidy.db'],
    );
    assert.equal(one.overall.runs, 4);
    const typo = await cli(['report', '--target', target, '--database', 'tidy']);
    assert.equal(typo.code, 0, typo.stderr);
    assert.match(typo.stderr, /^warning: no runs or backups of database tidy in /);
  });

  test('the text report names each database with its numbers and the recommendations', async () => {
    const run = await cli(['report', '--target', target, '--days', '28']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Database app\.db \(sqlite\)$/m);
    assert.match(run.stdout, /runs +10, 2 failed, success rate 80%/);
    assert.match(run.stdout, /GLACIER_IR +3 backups/);
    assert.match(run.stdout, /^Recommendations$/m);
    assert.match(run.stdout, /- app\.db: table Invoice grew in earlier backups/);
    assert.match(run.stdout, /prices vary by region/);
  });

  test('an unreadable run record or manifest is named, not skipped in silence: the report says what it is missing', async () => {
    const dir = join(await tempDir('report-damaged'), 'backups');
    await writeHistory(dir);
    // Within the window whenever the test runs: a record's key starts with its start time.
    const stamp = formatTimestamp(new Date(Date.now() - 2 * 24 * 3600 * 1000));
    const recordKey = `runs/sqlite/tidy.db/${stamp.slice(0, 4)}/${stamp}_scheduled_deadbeefdeadbeef.jsonl`;
    await fs.mkdir(join(dir, recordKey, '..'), { recursive: true });
    await fs.writeFile(join(dir, recordKey), '{"cut short');
    await fs.mkdir(join(dir, 'sqlite/tidy.db/2026'), { recursive: true });
    await fs.writeFile(join(dir, 'sqlite/tidy.db/2026', 'broken.sqlite.gz.json'), '{}');
    const text = await cli(['report', '--target', dir, '--days', '28']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^Not read \(the report is missing what these hold\)$/m);
    assert.ok(text.stdout.includes(`- ${recordKey}: `), text.stdout);
    assert.match(text.stdout, /- sqlite\/tidy\.db\/2026\/broken\.sqlite\.gz\.json: /);
    const json = await cli(['report', '--target', dir, '--days', '28', '--json']);
    assert.equal((JSON.parse(json.stdout) as Report).problems.length, 2);
    assert.equal(json.stderr.trim().split('\n').length, 2, json.stderr);
  });

  test('a backup dated in the future (a clock that ran ahead) is named as not read, not reported as the newest backup', async () => {
    const dir = await tempDir('report-future');
    const source = join(dir, 'app.db');
    const db = new Database(source);
    db.exec('create table t (x); insert into t values (1)');
    db.close();
    const out = join(dir, 'backups');
    const taken = await runBackup(
      { source, target: out, kind: 'scheduled', label: 'daily' },
      { now: () => new Date(Date.now() - HOUR) },
    );
    const ahead = await runBackup(
      { source, target: out, kind: 'scheduled', label: 'daily' },
      { now: () => new Date(Date.now() + 365 * 24 * HOUR) },
    );
    const run = await cli(['report', '--target', out, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.databases[0]?.stored.newestAt, taken.datetime);
    assert.deepEqual(
      report.problems.map((p) => p.key),
      [`${ahead.key}.json`],
    );
  });

  test('bad input: one line naming the problem and the fix, exit 2, and no report file written', async () => {
    const dir = await tempDir('report-bad');
    const html = join(dir, 'report.html');
    const zero = await cli(['report', '--target', target, '--days', '0', '--html', html]);
    assert.equal(zero.code, 2);
    assert.equal(zero.stderr.trim().split('\n').length, 1, zero.stderr);
    assert.match(zero.stderr, /--days must be between 1 and 366 \(got 0\)/);
    const missingDir = await cli(['report', '--target', target, '--html', join(dir, 'no/such/dir/report.html')]);
    assert.equal(missingDir.code, 2, missingDir.stderr);
    assert.match(missingDir.stderr, /cannot write the report to .*ENOENT.*--html/);
    assert.equal(missingDir.stdout, '');
    const noTarget = await cli(['report', '--target', join(dir, 'nothing-here')]);
    assert.equal(noTarget.code, 2, noTarget.stderr);
    assert.equal(noTarget.stderr.trim().split('\n').length, 1, noTarget.stderr);
    assert.deepEqual(await fs.readdir(dir), []);
  });
});
