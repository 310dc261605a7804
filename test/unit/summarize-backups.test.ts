import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ListedBackup } from '../../shared/catalog/list-backups.js';
import type { Manifest } from '../../shared/manifest.js';
import { summarizeBackups } from '../../shared/catalog/summarize-backups.js';

const backup = (database: string, engine: 'postgres' | 'sqlite', datetime: string, size: number): ListedBackup => ({
  key: `${engine}/${database}/${datetime}`,
  manifest: { database, engine, datetime, size_bytes: size } as Manifest,
});

test("info groups by database and engine: count, total size, newest, oldest and the newest one's age", () => {
  const summary = summarizeBackups(
    [
      backup('school', 'postgres', '2026-11-20T23:00:00.000Z', 100),
      backup('school', 'postgres', '2026-11-19T23:00:00.000Z', 50),
      backup('app', 'sqlite', '2026-11-01T00:00:00.000Z', 7),
    ],
    new Date('2026-11-21T05:00:00.000Z'),
  );
  assert.deepEqual(summary, [
    {
      database: 'app',
      engine: 'sqlite',
      count: 1,
      totalBytes: 7,
      newest: '2026-11-01T00:00:00.000Z',
      oldest: '2026-11-01T00:00:00.000Z',
      newestAgeSeconds: 20 * 86400 + 5 * 3600,
    },
    {
      database: 'school',
      engine: 'postgres',
      count: 2,
      totalBytes: 150,
      newest: '2026-11-20T23:00:00.000Z',
      oldest: '2026-11-19T23:00:00.000Z',
      newestAgeSeconds: 6 * 3600,
    },
  ]);
});
