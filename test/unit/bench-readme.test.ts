import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { withBenchTable } from '../../bench/bench-readme.js';
import { type BenchResults, verdict } from '../../bench/bench-table.js';

const results: BenchResults = {
  date: '2026-11-22T08:00:00.000Z',
  machine: '2 cores',
  options: { sizeMb: 100 },
  rows: [
    { dataSet: 'text', path: 'floor: pg_dump -Fc -Z0 > /dev/null', seconds: 2 },
    {
      dataSet: 'text',
      path: 'dbbackup backup gzip → directory',
      seconds: 2.4,
      baseline: 'floor',
      ratio: 1.2,
      targetRatio: 1.3,
      rssLimitMb: 200,
      peakRssMb: 110,
    },
    { dataSet: 'text', path: 'dbbackup verify gzip', seconds: 3, baseline: 'igzip | sha256sum', ratio: 1.5, targetRatio: 1.2 },
  ],
};

describe('bench table in the README', () => {
  test('each row passes only within its ratio and its RSS limit; a baseline has no verdict', () => {
    assert.deepEqual(results.rows.map(verdict), ['', 'pass', 'FAIL']);
    assert.equal(verdict({ dataSet: 'x', path: 'y', ratio: 1, targetRatio: 1.3, rssLimitMb: 200, peakRssMb: 250 }), 'FAIL');
  });

  test('the table is replaced between the markers, and only there', () => {
    const readme = 'before\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nafter\n';
    const once = withBenchTable(readme, results);
    assert.match(once, /^before\n<!-- bench:start -->\n/);
    assert.match(once, /\n<!-- bench:end -->\nafter\n$/);
    assert.doesNotMatch(once, /old table/);
    assert.match(once, /\| text \| dbbackup verify gzip \| 3\.00 \| 1\.50 \| igzip \\\| sha256sum \| ≤ 1\.2× \| FAIL \|/);
    assert.match(once, /1 of 2 targets met/);
    assert.equal(withBenchTable(once, results), once);
  });

  test('a README without the markers is refused', () => {
    assert.throws(() => withBenchTable('no markers', results), /no <!-- bench:start --> … <!-- bench:end --> markers/);
  });
});
