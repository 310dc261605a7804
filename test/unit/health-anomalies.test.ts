import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anomaliesBetween, assessHealth } from '../../shared/health/assess-health.js';
import type { Manifest } from '../../shared/manifest.js';

const manifest = (fields: Partial<Manifest>): Manifest =>
  ({
    backup_file: 'backup_school_x.dump.gz',
    database: 'school',
    format: 'custom',
    compression: 'gzip',
    size_bytes: 1000,
    tables: {},
    tables_estimated: [],
    tables_skipped: {},
    kind: 'scheduled',
    label: 'daily',
    datetime: '2026-11-21T00:00:00.000Z',
    ...fields,
  }) as Manifest;

test('estimated row counts never make a table "emptied" or "dropped" (statistics lag, and read 0 before ANALYZE); a missing one still counts', () => {
  const previous = manifest({
    tables: { 'public.big': 1_000_000, 'public.gone': 5000 },
    tables_estimated: ['public.big', 'public.gone'],
  });
  const newest = manifest({ tables: { 'public.big': 0 }, tables_estimated: ['public.big'] });
  assert.deepEqual(
    anomaliesBetween(newest, previous, {}).map((f) => [f.kind, f.table]),
    [['table-missing', 'public.gone']],
  );
});

test('exact counts: empty and fallen by more than the limit are warnings; a table empty before is not', () => {
  const previous = manifest({ tables: { a: 100, b: 100, c: 100, d: 0 } });
  const newest = manifest({ tables: { a: 0, b: 40, c: 60, d: 0 } });
  assert.deepEqual(
    anomaliesBetween(newest, previous, { rowsDropPercent: 50 }).map((f) => [f.kind, f.table]),
    [
      ['table-emptied', 'a'],
      ['rows-dropped', 'b'],
    ],
  );
});

test('a smaller backup counts only against one of the same format and compression (their sizes compare)', () => {
  const previous = manifest({ size_bytes: 1000 });
  assert.deepEqual(
    anomaliesBetween(manifest({ size_bytes: 400 }), previous, { shrinkPercent: 50 }).map((f) => f.kind),
    ['shrunk'],
  );
  assert.deepEqual(anomaliesBetween(manifest({ size_bytes: 600 }), previous, { shrinkPercent: 50 }), []);
  assert.deepEqual(anomaliesBetween(manifest({ size_bytes: 400, compression: 'zstd' }), previous, { shrinkPercent: 50 }), []);
});

test('pre-restore safety copies count for no tier, so a database with only those has no backups', () => {
  const report = assessHealth({
    backups: [{ key: 'k', manifest: manifest({ kind: 'pre-restore', label: 'before restore' }) }],
    problems: [],
    verified: [],
    databases: [{ name: 'school' }],
    policy: { maxAgeHours: {} },
    now: new Date('2026-11-21T01:00:00.000Z'),
    where: 'here',
  });
  assert.equal(report.status, 'broken');
  assert.deepEqual(
    report.findings.map((f) => f.kind),
    ['no-backups'],
  );
});
