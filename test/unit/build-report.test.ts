import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Manifest } from '../../shared/manifest.js';
import { buildReport } from '../../shared/report/build-report.js';
import type { RunRecord } from '../../shared/runs/run-record.js';

const NOW = new Date('2026-11-22T12:00:00Z');
const DAY = 24 * 3600 * 1000;
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY).toISOString();

function run(days: number, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    record_version: 1,
    run_id: `${Math.round(days * 1000)}`.padStart(8, '0'),
    database: 'db',
    engine: 'postgres',
    kind: 'scheduled',
    tier: 'daily',
    result: 'succeeded',
    error: null,
    started_at: daysAgo(days),
    ended_at: daysAgo(days),
    duration_ms: 60_000,
    source_bytes: null,
    stored_bytes: null,
    compression_ratio: null,
    compression: 'gzip',
    backup_key: null,
    client_version: {},
    tool_version: 'test',
    ...overrides,
  };
}

/** Only the fields a report reads; the rest as a manifest would have them. */
function manifest(days: number, tables: Record<string, number>, overrides: Partial<Manifest> = {}): Manifest {
  return {
    datetime: daysAgo(days),
    database: 'db',
    engine: 'postgres',
    size_bytes: 1000,
    source_size_bytes: 4000,
    storage_class: 'STANDARD',
    location: 's3://b/k',
    kind: 'scheduled',
    tables,
    tables_estimated: [],
    ...overrides,
  } as Manifest;
}

const report = (records: RunRecord[], manifests: Manifest[], days = 28) => buildReport({ records, manifests, now: NOW, days });

describe('buildReport', () => {
  test('an empty target: zero runs, no rates, no recommendations', () => {
    const r = report([], []);
    assert.equal(r.overall.runs, 0);
    assert.equal(r.overall.successRate, null);
    assert.equal(r.overall.durationMs, null);
    assert.deepEqual(r.databases, []);
    assert.deepEqual(r.recommendations, []);
  });

  test('runs outside the window are not counted; a drill before the window still counts as a restore test', () => {
    const r = report([run(10), run(3), run(20, { kind: 'drill' })], [manifest(1, {})], 7);
    const db = r.databases[0];
    assert.equal(db?.runs, 1);
    assert.equal(db?.restoreTest.daysSince, 20);
    assert.deepEqual(
      r.recommendations.map((x) => x.code),
      [],
    );
  });

  test('a failed drill is no restore test', () => {
    const r = report([run(2, { kind: 'drill', result: 'failed', error: 'x' })], [manifest(1, {})]);
    assert.equal(r.databases[0]?.restoreTest.lastSucceededAt, null);
    assert.deepEqual(
      r.recommendations.map((x) => x.code),
      ['not-restore-tested'],
    );
  });

  test('the Lambda limit: not judged on fewer than three runs; flagged at once when runs already take 15 minutes', () => {
    const slow = (d: number, minutes: number) => run(d, { duration_ms: minutes * 60_000 });
    assert.equal(report([slow(3, 5), slow(1, 14)], []).databases[0]?.weeksToLambdaLimit, null);
    assert.equal(report([slow(5, 15), slow(3, 16), slow(1, 17)], []).databases[0]?.weeksToLambdaLimit, 0);
    // Steady runs are not approaching anything.
    assert.equal(report([slow(5, 6), slow(3, 6), slow(1, 6)], []).databases[0]?.weeksToLambdaLimit, null);
  });

  test('a table stopped growing: only after it grew, for a week or more and at least three backups with the same count', () => {
    const stalled = (counts: Array<[number, number]>) =>
      report(
        [],
        counts.map(([d, rows]) => manifest(d, { t: rows })),
      ).databases[0]?.stalledTables.map((t) => t.table);
    assert.deepEqual(
      stalled([
        [20, 1],
        [15, 2],
        [8, 2],
        [1, 2],
      ]),
      ['t'],
    );
    assert.deepEqual(
      stalled([
        [20, 2],
        [15, 2],
        [8, 2],
        [1, 2],
      ]),
      [],
      'never grew: a lookup table',
    );
    assert.deepEqual(
      stalled([
        [20, 1],
        [3, 2],
        [2, 2],
        [1, 2],
      ]),
      [],
      'the same for two days only',
    );
    assert.deepEqual(
      stalled([
        [20, 1],
        [15, 2],
        [1, 2],
      ]),
      [],
      'two backups since the change',
    );
    assert.deepEqual(
      stalled([
        [20, 1],
        [15, 2],
        [8, 2],
        [1, 3],
      ]),
      [],
      'growing again',
    );
    const estimated = report(
      [],
      [20, 15, 8, 1].map((d, i) => manifest(d, { t: i === 0 ? 1 : 2 }, { tables_estimated: ['t'] })),
    );
    assert.deepEqual(estimated.databases[0]?.stalledTables, [], 'estimated counts are not judged');
  });

  test('pre-restore copies are stored (and cost) but are not the history sizes and tables are judged on', () => {
    const r = report([], [manifest(10, { t: 5 }, { kind: 'pre-restore', size_bytes: 9_999_999 }), manifest(1, { t: 1 })]);
    assert.equal(r.databases[0]?.stored.backups, 2);
    assert.equal(r.databases[0]?.stored.newestBytes, 1000);
  });

  test('a backup on a directory target has no storage class and no price', () => {
    const r = report([], [manifest(1, {}, { storage_class: null, location: '/backups/k' })]);
    assert.deepEqual(r.databases[0]?.stored.byClass, [{ storageClass: 'none', backups: 1, bytes: 1000, usdPerMonth: null }]);
    assert.equal(r.databases[0]?.stored.usdPerMonth, 0);
  });
});
