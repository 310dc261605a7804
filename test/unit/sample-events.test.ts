import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { functionRestoreEventSchema } from '../../shared/deployment/run-function-restore.js';
import { scheduledBackupEventSchema } from '../../shared/deployment/backup-event.js';
import { pruneEventSchema } from '../../shared/deployment/run-scheduled-prune.js';
import { repoRoot } from '../harness/test-env.js';

test('every sample test event in functions/events is one its function accepts', () => {
  const dir = join(repoRoot, 'functions/events');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 4);
  for (const file of files) {
    const event = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    const schema = file.startsWith('backup')
      ? scheduledBackupEventSchema
      : file.startsWith('prune')
        ? pruneEventSchema
        : functionRestoreEventSchema;
    assert.ok(schema.safeParse(event).success, `${file}: ${JSON.stringify(schema.safeParse(event).error?.issues)}`);
  }
});

test('no sample event restores in place with a confirmation filled in: whoever runs it types the name', () => {
  const dir = join(repoRoot, 'functions/events');
  for (const file of readdirSync(dir).filter((f) => f.startsWith('restore') && f.endsWith('.json'))) {
    const event = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { to?: string; confirm?: string; dryRun?: boolean };
    if (event.to === undefined && !event.dryRun) assert.equal(event.confirm, undefined, `${file} pre-fills "confirm"`);
  }
});

test('the restore event takes keepOwner, as the CLI takes --keep-owner', () => {
  assert.ok(functionRestoreEventSchema.safeParse({ database: 'school', latest: true, keepOwner: true }).success);
  assert.ok(!functionRestoreEventSchema.safeParse({ database: 'school', latest: true, keepOwner: 'yes' }).success);
});
