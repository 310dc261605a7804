import { CLOCK_SKEW_MS } from '../catalog/list-backups.js';
import { ENGINES } from '../engines/registry.js';
import { StorageError } from '../errors.js';
import { readRunRecord, RUN_RECORD_SUFFIX, runRecordKeyFacts, runRecordPrefix } from '../runs/run-record.js';
import type { Target } from '../targets/target.js';

/** How long a database may go without a passed restore drill: a monthly drill, a missed month's grace. */
export const DEFAULT_MAX_DRILL_AGE_DAYS = 35;

const DAY_MS = 24 * 60 * 60 * 1000;

/** Whether a database's backups have been proven to restore lately, from its drills' run records. */
export interface DrillHealth {
  /** When the newest passed drill started; null when none has passed. */
  readonly lastPassedAt: string | null;
  /** The newest drill, passed or not; null when there has been none. */
  readonly lastDrill: {
    readonly at: string;
    readonly result: 'succeeded' | 'failed';
    /** The one line the drill's user saw, when it failed. */
    readonly error: string | null;
    /** The measured time to restore. */
    readonly durationMs: number;
    readonly backupKey: string | null;
  } | null;
  /** Why the newest drill record could not be read, when it is damaged (older ones are read on). */
  readonly problem?: string;
  /**
   * Days since a drill last passed; with none passed, days since the database's first run record
   * (a new database is given the same grace as a drill); null with no run record at all.
   */
  readonly daysWithoutPassedDrill: number | null;
  readonly maxAgeDays: number;
  readonly overdue: boolean;
}

/**
 * Reads when `database`'s restore drills last ran and passed. Run record keys name their start and
 * kind (`<stamp>_drill_<run>.jsonl`), so only drill records are read, newest first, until a passed
 * one: one listing and a few reads per database, however many backups it has.
 */
export async function drillHealthOf(
  target: Target,
  database: string,
  maxAgeDays: number,
  now: Date,
  /** Where to look: the database's engine, when known. @default every engine's folder */
  engines: readonly string[] = ENGINES.map((e) => e.kind),
): Promise<DrillHealth> {
  const drills: Array<{ key: string; at: Date }> = [];
  let first: Date | undefined;
  // A drill dated ahead of now (a clock that ran ahead, a forged record) proves nothing: taken at
  // its word, it would pass for the newest drill and hide an overdue one for as long as its date.
  const latest = now.getTime() + CLOCK_SKEW_MS;
  for (const engine of engines) {
    try {
      for await (const object of target.list(runRecordPrefix(engine, database))) {
        if (!object.key.endsWith(RUN_RECORD_SUFFIX)) continue;
        const facts = runRecordKeyFacts(object.key);
        if (!facts) continue;
        if (facts.startedAt.getTime() <= latest && (first === undefined || facts.startedAt < first)) first = facts.startedAt;
        if (facts.kind === 'drill') drills.push({ key: object.key, at: facts.startedAt });
      }
    } catch (error) {
      if (!(error instanceof StorageError && error.notFound)) throw error;
    }
  }
  drills.sort((a, b) => b.at.getTime() - a.at.getTime());
  let lastDrill: DrillHealth['lastDrill'] = null;
  let lastPassedAt: string | null = null;
  let problem: string | undefined;
  const unbelievable = (key: string, why: string) => {
    if (lastDrill === null) problem ??= `${key}: ${why}`;
  };
  for (const drill of drills) {
    if (drill.at.getTime() > latest) {
      unbelievable(drill.key, `dated ${drill.at.toISOString()}, after now: not counted`);
      continue;
    }
    const read = await readRunRecord(target, drill.key);
    if (read === undefined) continue;
    if (!('record' in read)) {
      unbelievable(read.key, read.error);
      continue;
    }
    const { record } = read;
    if (record.database !== database) continue;
    // Its name says drill; only its content is believed.
    if (record.kind !== 'drill') {
      unbelievable(read.key, `named a drill, but records a ${record.kind} run: not counted`);
      continue;
    }
    if (Date.parse(record.started_at) > latest) {
      unbelievable(read.key, `dated ${record.started_at}, after now: not counted`);
      continue;
    }
    lastDrill ??= {
      at: record.started_at,
      result: record.result,
      error: record.error,
      durationMs: record.duration_ms,
      backupKey: record.backup_key,
    };
    if (record.result === 'succeeded') {
      lastPassedAt = record.started_at;
      break;
    }
  }
  const since = lastPassedAt !== null ? Date.parse(lastPassedAt) : first?.getTime();
  const days = since === undefined ? null : Math.max(0, Math.round(((now.getTime() - since) / DAY_MS) * 100) / 100);
  return {
    lastPassedAt,
    lastDrill,
    ...(problem === undefined ? {} : { problem }),
    daysWithoutPassedDrill: days,
    maxAgeDays,
    overdue: days !== null && days > maxAgeDays,
  };
}
