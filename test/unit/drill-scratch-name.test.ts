import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { scratchDatabaseName } from '../../shared/engines/postgres/postgres-scratch.js';

const at = new Date('2026-11-22T08:15:30Z');

describe('the scratch database name of a drill', () => {
  test('says what made it, for which database and when, and fits PostgreSQL’s 63 bytes', () => {
    assert.equal(scratchDatabaseName('school', at, '0a1b2c3d'), 'dbbackup_drill_school_20261122_081530_0a1b2c3d');
  });

  test('a long or non-ASCII name is cut and made plain, keeping the time and the random part whole', () => {
    for (const name of ['x'.repeat(200), 'Ünïcödé-Schüler DB 🎓'.repeat(5), 'a']) {
      const scratch = scratchDatabaseName(name, at, 'ffffffff');
      assert.ok(Buffer.byteLength(scratch) <= 63, `${scratch} is ${Buffer.byteLength(scratch)} bytes`);
      assert.match(scratch, /^dbbackup_drill_[a-z0-9_]*_20261122_081530_ffffffff$/);
    }
  });

  test('two drills of one database in the same second get different names', () => {
    assert.notEqual(scratchDatabaseName('school', at), scratchDatabaseName('school', at));
  });
});
