import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { drillHealthOf } from '../../shared/health/drill-health.js';
import { type RunRecord, writeRunRecord } from '../../shared/runs/run-record.js';
import { runRecordOf } from '../harness/fixtures.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { tempDir } from '../harness/test-env.js';

const DAY = 24 * 3600 * 1000;
const now = new Date('2026-11-22T12:00:00Z');

const record = (database: string, kind: RunRecord['kind'], daysAgo: number, result: RunRecord['result'] = 'succeeded') =>
  runRecordOf({
    database,
    kind,
    started: new Date(now.getTime() - daysAgo * DAY),
    result,
    error: 'the restored table "t" has 1 row, the backup 2',
  });

test('drill health: the newest passed drill counts; a failed one since is named; a record from the future proves nothing', async () => {
  const target = await openTarget(join(await tempDir('drill-health'), 'backups'));
  await writeRunRecord(target, record('app', 'scheduled', 90));
  await writeRunRecord(target, record('app', 'drill', 50));
  await writeRunRecord(target, record('app', 'drill', 20, 'failed'));
  // A forged or clock-skewed "passed" drill dated next month must not hold the alarm off.
  await writeRunRecord(target, record('app', 'drill', -30));
  const app = await drillHealthOf(target, 'app', 35, now);
  assert.equal(app.daysWithoutPassedDrill, 50);
  assert.equal(app.overdue, true);
  assert.equal(app.lastDrill?.result, 'failed');
  assert.match(app.lastDrill?.error ?? '', /has 1 row/);

  // No drill yet: the clock starts at the database's first run; no run at all, no verdict.
  await writeRunRecord(target, record('fresh', 'scheduled', 3));
  assert.deepEqual(
    { days: (await drillHealthOf(target, 'fresh', 35, now)).daysWithoutPassedDrill, overdue: false },
    { days: 3, overdue: false },
  );
  const none = await drillHealthOf(target, 'never', 35, now);
  assert.equal(none.daysWithoutPassedDrill, null);
  assert.equal(none.overdue, false);
});
