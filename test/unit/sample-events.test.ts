import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { functionRestoreEventSchema } from '../../shared/deployment/run-function-restore.js';
import { scheduledBackupEventSchema } from '../../shared/deployment/backup-event.js';
import { repoRoot } from '../harness/test-env.js';

test('every sample test event in functions/events is one its function accepts', () => {
  const dir = join(repoRoot, 'functions/events');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 4);
  for (const file of files) {
    const event = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const schema = file.startsWith('backup') ? scheduledBackupEventSchema : functionRestoreEventSchema;
    assert.ok(schema.safeParse(event).success, `${file}: ${JSON.stringify(schema.safeParse(event).error?.issues)}`);
  }
});
