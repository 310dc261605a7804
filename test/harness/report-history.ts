import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { databaseKeyPrefix, formatTimestamp } from '../../shared/backup/backup-key.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import type { Manifest } from '../../shared/manifest.js';
import { newRunId, type RunRecord, writeRunRecord } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import type { StorageClass } from '../../shared/targets/target.js';
import { samplesDir, tempDir } from './test-env.js';

const DAY = 24 * 3600 * 1000;
const MIN = 60_000;

/** An error a run may record that a page must show as text, never run. */
export const HOSTILE_ERROR = 'pg_dump: <script>alert("error")</script> connection refused';
/** A database name (a SQLite file may be called anything) a page must show as text. */
export const HOSTILE_DATABASE = '<script>alert(1)</script>.db';

/** One run as the history defines it: days before now, and how it went. */
interface HistoryRun {
  daysAgo: number;
  result: 'succeeded' | 'failed';
  durationMs: number;
  kind?: RunRecord['kind'];
}

/** One stored backup as the history defines it. */
interface HistoryBackup {
  daysAgo: number;
  bytes: number;
  sourceBytes: number;
  storageClass: StorageClass;
  tables: Record<string, number>;
}

/**
 * `app.db`: slow and getting slower (6 min growing 1.5 min a week: it reaches Lambda's 15 minutes
 * within weeks), 2 of 10 runs failed, backups compress 1.5:1, Invoice stopped growing 15 days ago,
 * never restore-tested. `tidy.db`: fast, every run good, 5:1, drilled 2 days ago.
 * {@link HOSTILE_DATABASE}: one failed run. Everything within 28 days.
 */
export const HISTORY = {
  'app.db': {
    runs: [27, 24, 21, 18, 15, 12, 9, 6, 3, 1].map((daysAgo): HistoryRun => ({
      daysAgo,
      result: daysAgo === 21 || daysAgo === 9 ? 'failed' : 'succeeded',
      durationMs: daysAgo === 21 || daysAgo === 9 ? 20_000 : Math.round(6 * MIN + ((27 - daysAgo) / 7) * 1.5 * MIN),
    })),
    backups: [26, 21, 16, 11, 6, 1].map((daysAgo, i): HistoryBackup => ({
      daysAgo,
      bytes: 10_000_000 + i * 1_000_000,
      sourceBytes: (10_000_000 + i * 1_000_000) * 1.5,
      storageClass: i < 3 ? 'GLACIER_IR' : 'STANDARD',
      tables: { Invoice: [100, 150, 200, 200, 200, 200][i] as number, Track: 3503 },
    })),
  },
  'tidy.db': {
    runs: [
      ...[20, 13, 6, 2].map((daysAgo, i): HistoryRun => ({ daysAgo, result: 'succeeded', durationMs: 30_000 + i * 1000 })),
      { daysAgo: 2, result: 'succeeded', durationMs: 40_000, kind: 'drill' },
    ],
    backups: [13, 6, 2].map((daysAgo): HistoryBackup => ({
      daysAgo,
      bytes: 1_000_000,
      sourceBytes: 5_000_000,
      storageClass: 'STANDARD',
      tables: { Album: 347 },
    })),
  },
  [HOSTILE_DATABASE]: {
    runs: [{ daysAgo: 4, result: 'failed', durationMs: 1000 } as HistoryRun],
    backups: [] as HistoryBackup[],
  },
} as const;

/**
 * Writes {@link HISTORY} into a target, relative to `now`: run records with writeRunRecord, and
 * manifests made from a real backup's (a real SQLite backup of the Chinook sample) with the
 * history's times, sizes, classes and row counts. Only manifests: a report reads nothing else.
 */
export async function writeHistory(targetUrl: string, now = Date.now()): Promise<void> {
  const dir = await tempDir('report-history');
  const source = join(dir, 'app.db');
  await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), source);
  const scratch = join(dir, 'scratch');
  const template = await runBackup({ source, target: scratch });
  const target = await openTarget(targetUrl, { checksums: 'when_required' });
  for (const [database, history] of Object.entries(HISTORY)) {
    for (const run of history.runs) {
      const started = new Date(now - run.daysAgo * DAY);
      const record: RunRecord = {
        record_version: 1,
        run_id: newRunId(),
        database,
        engine: 'sqlite',
        kind: run.kind ?? 'scheduled',
        tier: run.kind === 'drill' ? null : 'daily',
        result: run.result,
        error: run.result === 'failed' ? HOSTILE_ERROR : null,
        started_at: started.toISOString(),
        ended_at: new Date(started.getTime() + run.durationMs).toISOString(),
        duration_ms: run.durationMs,
        source_bytes: null,
        stored_bytes: null,
        compression_ratio: null,
        compression: 'gzip',
        backup_key: null,
        client_version: {},
        tool_version: template.tool_version,
      };
      const written = await writeRunRecord(target, record);
      if ('error' in written) throw new Error(written.error);
    }
    for (const [i, backup] of history.backups.entries()) {
      const at = new Date(now - backup.daysAgo * DAY);
      const stamp = formatTimestamp(at);
      const file = `${stamp}_history${i}.sqlite.gz`;
      const key = `${databaseKeyPrefix('sqlite', database)}${stamp.slice(0, 4)}/${file}`;
      const manifest: Manifest = {
        ...template,
        backup_file: file,
        timestamp: stamp,
        datetime: at.toISOString(),
        database,
        key,
        location: `${targetUrl.replace(/\/$/, '')}/${key}`,
        size_bytes: backup.bytes,
        source_size_bytes: backup.sourceBytes,
        storage_class: backup.storageClass,
        kind: 'scheduled',
        tables: backup.tables,
        tables_estimated: [],
        tables_skipped: {},
      };
      const body = Buffer.from(JSON.stringify(manifest));
      await target.put(`${key}.json`, Readable.from([body]), { contentType: 'application/json', expectedSizeBytes: body.length });
    }
  }
}
