import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareRowCounts } from '../../shared/engines/compare-row-counts.js';

test('a count an older manifest marks as estimated (0 for a table never analyzed) never refuses a restore; it is shown, not compared', () => {
  const checks = compareRowCounts({ 'public.events': 0, 'public.stale': 2_000_000 }, new Set(['public.events', 'public.stale']), {
    'public.events': 1_500_000,
    'public.stale': 10,
  });
  assert.deepEqual(
    checks.map((c) => c.ok),
    [true, true],
  );
  assert.match(checks[0]?.detail ?? '', /^1500000 rows \(the backup recorded only an estimate, about 0: not compared\)$/);
});

test('exact counts still match exactly, and a table missing from the restore fails whether its count was exact or estimated', () => {
  const checks = compareRowCounts(
    { 'public.a': 10, 'public.b': 10, 'public.gone': 5, 'public.gone_estimated': 5 },
    new Set(['public.gone_estimated']),
    { 'public.a': 10, 'public.b': 11 },
  );
  assert.deepEqual(
    checks.map((c) => [c.name, c.ok, c.detail]),
    [
      ['table public.a', true, '10 rows'],
      ['table public.b', false, 'table public.b has 11 rows, the backup had 10'],
      ['table public.gone', false, 'table public.gone is missing'],
      ['table public.gone_estimated', false, 'table public.gone_estimated is missing'],
    ],
  );
});
