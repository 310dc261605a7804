import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseGzip, igzipLevel } from '../../shared/compression/gzip-implementation.js';
import { readSettings } from '../../shared/settings.js';

describe('gzip implementation', () => {
  test("levels on zlib's scale map onto igzip's 1-3: 1-3 fast, 4-6 (the default 5) middle, 7-9 smallest", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((level) => igzipLevel(level)),
      [1, 1, 1, 2, 2, 2, 3, 3, 3],
    );
  });

  test('auto uses igzip from PATH when it runs, zlib when PATH has none', async () => {
    const found = await chooseGzip(readSettings({ PATH: process.env.PATH }));
    assert.equal(found.kind, 'igzip');
    assert.deepEqual(await chooseGzip(readSettings({ PATH: '/nonexistent' })), { kind: 'zlib' });
    assert.deepEqual(await chooseGzip(readSettings({ PATH: process.env.PATH, DBBACKUP_GZIP: 'zlib' })), { kind: 'zlib' });
  });

  test('an unknown DBBACKUP_GZIP is refused in one line naming it', async () => {
    await assert.rejects(
      chooseGzip(readSettings({ DBBACKUP_GZIP: 'pigz' })),
      /DBBACKUP_GZIP must be auto, igzip or zlib \(got "pigz"\)/,
    );
  });
});
