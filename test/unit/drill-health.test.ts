import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { drillHealthOf } from '../../shared/health/drill-health.js';
import { newRunId, RUN_RECORD_VERSION, type RunRecord, writeRunRecord } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { tempDir } from '../harness/test-env.js';

const DAY = 24 * 3600 * 1000;
const now = new Date('2026-11-22T12:00:00Z');

function record(
  database: string,
  kind: RunRecord['kind'],
  daysAgo: number,
  result: RunRecord['result'] = 'succeeded',
): RunRecord {
  const started = new Date(now.getTime() - daysAgo * DAY);
  return {
    record_version: RUN_RECORD_VERSION,
    run_id: newRunId(),
    database,
    engine: 'sqlite',
    kind,
    tier: null,
    result,
    error: result === 'failed' ? 'the restored table "t" has 1 row, the backup 2' : null,
    started_at: started.toISOString(),
    ended_at: new Date(started.getTime() + 1000).toISOString(),
    duration_ms: 1000,
    source_bytes: null,
    stored_bytes: null,
    compression_ratio: null,
    compression: null,
    backup_key: null,
    client_version: {},
    tool_version: 'test',
  };
}

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
