import { databaseKeyPrefix } from '../backup/backup-key.js';
import { futureDated, type ManifestProblem, problemOf, readManifest } from '../catalog/list-backups.js';
import { ENGINES } from '../engines/registry.js';
import { ConfigError, StorageError } from '../errors.js';
import { MANIFEST_SUFFIX } from '../manifest.js';
import { pausePoint } from '../pipeline/pause-point.js';
import { RUN_RECORD_SUFFIX, RUNS_PREFIX, runRecordPrefix } from '../runs/run-record.js';
import type { Settings } from '../settings.js';
import type { StoredObject, Target } from '../targets/target.js';
import { planRetention, parseDuration, type RetentionCandidate, type RetentionPlan } from './plan-retention.js';
import type { PruneRequest } from './prune-request.js';

/**
 * The folder, under a target's root, where a deployment's restore function puts its pre-restore
 * safety copies (the CLI puts its own beside the backups); prune looks there too.
 */
export const PRE_RESTORE_FOLDER = 'pre-restore';

/** A data object with no manifest, old enough to be what a failed, killed or half-pruned run left. */
export interface Orphan {
  readonly key: string;
  /** ISO 8601: the later of its key's timestamp and its last write. */
  readonly since: string;
}

/** What a prune will do: the backups kept (with why) and deleted, the orphans and old run records removed. */
export interface PrunePlan extends RetentionPlan {
  readonly orphans: Orphan[];
  readonly runRecords: string[];
  /** Manifests that could not be read: never deleted, nor their data, and reported. */
  readonly problems: ManifestProblem[];
}

const READ_CONCURRENCY = 16;

/**
 * Plans a prune of `target` (reads only): lists the manifests, plans retention, and keeps back
 * whatever Object Lock still retains (asked only of what would be deleted).
 */
export async function planPrune(target: Target, request: PruneRequest, now: Date): Promise<PrunePlan> {
  const listed = await listEverything(target, request.database);
  const candidates: RetentionCandidate[] = [];
  const problems: ManifestProblem[] = [];
  const manifestKeys = listed.filter((o) => o.key.endsWith(MANIFEST_SUFFIX) && !o.key.startsWith(RUNS_PREFIX));
  await forEachLimited(manifestKeys, READ_CONCURRENCY, async ({ key: manifestKey }) => {
    const key = manifestKey.slice(0, -MANIFEST_SUFFIX.length);
    try {
      const read = await readManifest(target, key);
      if (read === undefined) return;
      if ('error' in read) return void problems.push(problemOf(manifestKey, read.error));
      const m = read.manifest;
      if (request.database !== undefined && m.database !== request.database) return;
      const future = futureDated(m, now);
      if (future) return void problems.push(problemOf(manifestKey, future));
      candidates.push({ key, engine: m.engine, database: m.database, datetime: m.datetime, kind: m.kind, label: m.label });
    } catch (error) {
      problems.push(problemOf(manifestKey, (error as Error).message));
    }
  });
  for (const gone of await newestWithoutData(target, candidates)) {
    candidates.splice(candidates.indexOf(gone), 1);
    problems.push(
      problemOf(
        gone.key + MANIFEST_SUFFIX,
        'its data is missing: nothing to restore from it, so it is not counted as the newest backup; kept and reported',
      ),
    );
  }
  problems.sort((a, b) => a.key.localeCompare(b.key));
  const policy = {
    daily: request.keepDaily,
    weekly: request.keepWeekly,
    monthly: request.keepMonthly,
    withinMs: request.keepWithin === undefined ? undefined : parseDuration(request.keepWithin),
    preRestoreDays: request.keepPreRestoreDays,
    timeZone: request.timeZone,
  };
  const first = planRetention(candidates, policy, now);
  // Object Lock is asked of what would go only; a lock holds a backup when it holds either object.
  const locks = new Map<string, string>();
  await forEachLimited(first.delete, READ_CONCURRENCY, async (c) => {
    const until = latestLock(await Promise.all([target.stat(c.key), target.stat(c.key + MANIFEST_SUFFIX)]), now);
    if (until) locks.set(c.key, until);
  });
  const plan =
    locks.size === 0
      ? first
      : planRetention(
          candidates.map((c) => (locks.has(c.key) ? { ...c, retainUntil: locks.get(c.key) } : c)),
          policy,
          now,
        );

  const manifests = new Set(manifestKeys.map((o) => o.key));
  const orphansAfterMs = parseDuration(request.orphansAfter) ?? Number.POSITIVE_INFINITY;
  const orphans: Orphan[] = [];
  const runRecords: string[] = [];
  const runsBefore = now.getTime() - request.keepRunsDays * 24 * 60 * 60 * 1000;
  for (const object of listed) {
    if (object.key.startsWith(RUNS_PREFIX)) {
      const started = stampOf(object.key);
      if (object.key.endsWith(RUN_RECORD_SUFFIX) && started !== undefined && started < runsBefore) runRecords.push(object.key);
      continue;
    }
    if (!isBackupData(object.key) || manifests.has(object.key + MANIFEST_SUFFIX)) continue;
    // The later of the two: a backup that ran long has an old key but was written just now.
    const times = [stampOf(object.key), object.modified?.getTime()].filter((t): t is number => t !== undefined);
    const since = times.length > 0 ? Math.max(...times) : undefined;
    if (since !== undefined && now.getTime() - since > orphansAfterMs)
      orphans.push({ key: object.key, since: new Date(since).toISOString() });
  }
  const unlocked = async <T>(items: T[], keyOf: (item: T) => string): Promise<T[]> => {
    const held = new Set<T>();
    await forEachLimited(items, READ_CONCURRENCY, async (item) => {
      if (latestLock([await target.stat(keyOf(item))], now)) held.add(item);
    });
    return items.filter((item) => !held.has(item));
  };
  orphans.sort((a, b) => a.key.localeCompare(b.key));
  runRecords.sort();
  return {
    ...plan,
    orphans: await unlocked(orphans, (o) => o.key),
    runRecords: await unlocked(runRecords, (k) => k),
    problems,
  };
}

/**
 * Per database, the newest backups (newest first, up to the first that has its data) whose data
 * object is gone. The newest backup is kept so that one is left to restore; a manifest whose data
 * was lost (deleted by hand, a bucket rule) cannot be that one, and taken for it, every backup
 * that can be restored would be planned away.
 */
async function newestWithoutData(target: Target, candidates: readonly RetentionCandidate[]): Promise<RetentionCandidate[]> {
  const groups = new Map<string, RetentionCandidate[]>();
  for (const c of candidates) {
    if (c.kind === 'pre-restore') continue;
    const group = `${c.engine}\u0000${c.database}`;
    groups.set(group, [...(groups.get(group) ?? []), c]);
  }
  const gone: RetentionCandidate[] = [];
  await forEachLimited([...groups.values()], READ_CONCURRENCY, async (group) => {
    group.sort((a, b) => b.datetime.localeCompare(a.datetime) || b.key.localeCompare(a.key));
    for (const c of group) {
      if (await target.stat(c.key)) return;
      gone.push(c);
    }
  });
  return gone;
}

/** What a prune deleted, in the order it did. */
export interface PruneResult {
  readonly deleted: string[];
  readonly orphansRemoved: string[];
  readonly runRecordsRemoved: string[];
}

/**
 * Carries out a plan. Each backup goes manifest first (the commit marker: without it the backup no
 * longer exists for anyone), then its data; a prune stopped between the two leaves a data object
 * without a manifest, which the next prune removes as an orphan. Then orphans, then old run records.
 */
export async function executePrune(
  target: Target,
  plan: PrunePlan,
  settings: Settings,
  onDeleted: (what: 'backup' | 'orphan' | 'run record', key: string) => void = () => {},
): Promise<PruneResult> {
  const result: PruneResult = { deleted: [], orphansRemoved: [], runRecordsRemoved: [] };
  for (const backup of plan.delete) {
    await target.delete(backup.key + MANIFEST_SUFFIX);
    await pausePoint('prune', settings);
    await target.delete(backup.key);
    result.deleted.push(backup.key);
    onDeleted('backup', backup.key);
  }
  for (const orphan of plan.orphans) {
    await target.delete(orphan.key);
    result.orphansRemoved.push(orphan.key);
    onDeleted('orphan', orphan.key);
  }
  for (const key of plan.runRecords) {
    await target.delete(key);
    result.runRecordsRemoved.push(key);
    onDeleted('run record', key);
  }
  return result;
}

/** Every object prune looks at: the whole target, or one database's backups, pre-restore copies and run records. */
async function listEverything(target: Target, database: string | undefined): Promise<StoredObject[]> {
  const prefixes =
    database === undefined
      ? ['']
      : ENGINES.flatMap((e) => {
          const own = databaseKeyPrefix(e.kind, database);
          return [own, `${PRE_RESTORE_FOLDER}/${own}`, runRecordPrefix(e.kind, database)];
        });
  const objects: StoredObject[] = [];
  try {
    for (const prefix of prefixes) for await (const object of target.list(prefix)) objects.push(object);
  } catch (error) {
    if (error instanceof StorageError && error.notFound) {
      throw new ConfigError(error.message, { hint: (w) => `check ${w.option('target')}`, cause: error });
    }
    throw error;
  }
  return objects;
}

/**
 * A backup's data object exactly as buildBackupKey lays it out, `[pre-restore/]<engine>/<name>/
 * <YYYY>/backup_<name>_<YYYYMMDD_HHMMSS>…`, not a manifest. Only those can be orphans: a target
 * may also hold what the systems this tool grew from wrote (`backup_<name>_<stamp>.sql.gz` at the
 * top, or in folders of their own), which no manifest ever described and prune must not delete.
 */
function isBackupData(key: string): boolean {
  if (key.endsWith(MANIFEST_SUFFIX)) return false;
  const m = /^(?:pre-restore\/)?([^/]+)\/([^/]+)\/(\d{4})\/backup_([^/]+)_(\d{4})\d{4}_\d{6}[^/]*$/.exec(key);
  if (!m) return false;
  const [, engine, folder, year, name, stampYear] = m;
  return ENGINES.some((e) => e.kind === engine) && year === stampYear && name === folder;
}

/** The UTC time in a backup's or run record's file name (`…_YYYYMMDD_HHMMSS…`), in ms. */
function stampOf(key: string): number | undefined {
  // The last such stamp: a database's name may hold digits that look like one.
  const m = /^.*[/_](\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?=[_.])[^/]*$/.exec(key);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/** The latest retain-until date among objects that a lock still holds at `now`, as ISO 8601. */
function latestLock(objects: ReadonlyArray<StoredObject | undefined>, now: Date): string | undefined {
  const until = objects.map((o) => o?.retainUntil?.getTime() ?? 0).reduce((a, b) => Math.max(a, b), 0);
  return until > now.getTime() ? new Date(until).toISOString() : undefined;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}
