import type { ListedBackup } from './list-backups.js';

/** Per-database totals shown by `dbbackup info`. */
export interface DatabaseSummary {
  readonly database: string;
  readonly engine: string;
  readonly count: number;
  readonly totalBytes: number;
  readonly newest: string;
  readonly oldest: string;
  /** Seconds since the newest backup completed. */
  readonly newestAgeSeconds: number;
}

/**
 * What a target holds, per database: its backups, and apart from them its pre-restore copies (a
 * restore's undo points: counting them as backups would make a database look backed up more
 * often, and more recently, than it was).
 */
export function summarizeTarget(
  backups: readonly ListedBackup[],
  now: Date,
): { databases: DatabaseSummary[]; preRestoreCopies: DatabaseSummary[] } {
  return {
    databases: summarizeBackups(
      backups.filter((b) => b.manifest.kind !== 'pre-restore'),
      now,
    ),
    preRestoreCopies: summarizeBackups(
      backups.filter((b) => b.manifest.kind === 'pre-restore'),
      now,
    ),
  };
}

/** Groups backups (newest first) by database and engine. */
export function summarizeBackups(backups: readonly ListedBackup[], now: Date): DatabaseSummary[] {
  const groups = new Map<string, ListedBackup[]>();
  for (const backup of backups) {
    const id = `${backup.manifest.engine}/${backup.manifest.database}`;
    groups.set(id, [...(groups.get(id) ?? []), backup]);
  }
  return [...groups.values()]
    .map((group) => {
      const sorted = [...group].sort((a, b) => b.manifest.datetime.localeCompare(a.manifest.datetime));
      const newest = (sorted[0] as ListedBackup).manifest;
      const oldest = (sorted.at(-1) as ListedBackup).manifest;
      return {
        database: newest.database,
        engine: newest.engine,
        count: sorted.length,
        totalBytes: sorted.reduce((sum, b) => sum + b.manifest.size_bytes, 0),
        newest: newest.datetime,
        oldest: oldest.datetime,
        newestAgeSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(newest.datetime)) / 1000)),
      };
    })
    .sort((a, b) => a.database.localeCompare(b.database) || a.engine.localeCompare(b.engine));
}
