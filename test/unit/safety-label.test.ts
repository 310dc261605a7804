import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LABEL_MAX_LENGTH, parseBackupOptions } from '../../shared/backup/backup-options.js';
import { labelWithin } from '../../shared/restore/run-restore.js';

test('a safety backup label made from a file name of any length (an S3 key reaches 1024 bytes) fits the label limit, whole characters only', () => {
  for (const name of ['b'.repeat(1000), '😀'.repeat(400), `${'é'.repeat(299)}😀x`]) {
    const label = labelWithin(`before restoring ${name}`, LABEL_MAX_LENGTH);
    assert.ok(label.length <= LABEL_MAX_LENGTH, `${label.length} units`);
    assert.ok(label.startsWith('before restoring ') && label.endsWith('…'));
    assert.ok(!/[\uD800-\uDBFF]$/.test(label.slice(0, -1)), 'no half of a surrogate pair');
    assert.doesNotThrow(() => parseBackupOptions({ source: 'postgres://h/db', target: '/tmp/x', label }));
  }
  assert.equal(labelWithin('before restoring short.dump.gz', LABEL_MAX_LENGTH), 'before restoring short.dump.gz');
});
