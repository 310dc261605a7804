import { periodsOf } from './calendar-periods.js';

/** The tiers a backup can stand for, newest period first: one backup per day, ISO week, month. */
export const RETENTION_TIERS = ['daily', 'weekly', 'monthly'] as const;
export type RetentionTier = (typeof RETENTION_TIERS)[number];

/** What to keep. Counts of 0 keep nothing for that tier; `withinMs` and the safety rules still apply. */
export interface RetentionPolicy {
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  /** Keep every backup taken within this long of the database's newest backup (restic's --keep-within). */
  readonly withinMs?: number;
  /** Keep pre-restore safety copies this many days after they were taken. */
  readonly preRestoreDays: number;
  /** The IANA time zone days, weeks and months are counted in (a deployment's schedules' zone). */
  readonly timeZone: string;
}

/** One stored backup, as its manifest describes it, and what the store says of its lock. */
export interface RetentionCandidate {
  /** The backup's key, relative to the target root (its manifest is `<key>.json`). */
  readonly key: string;
  /** Backups are grouped by engine and database: each group has its own newest and its own periods. */
  readonly engine: string;
  readonly database: string;
  /** ISO 8601, UTC: when the backup was taken. */
  readonly datetime: string;
  readonly kind: 'manual' | 'scheduled' | 'pre-restore';
  /** A scheduled backup's tier (`daily`, `weekly`, `monthly`); anything else for other kinds. */
  readonly label: string | null;
  /** ISO 8601: until when Object Lock retains the backup (its data or its manifest), when known. */
  readonly retainUntil?: string;
}

/** A backup the plan keeps, with every rule that keeps it (`newest`, `weekly 2026-W47`, …). */
export interface KeptBackup extends RetentionCandidate {
  readonly reasons: readonly string[];
}

/** The plan: every backup is in exactly one of the two lists, each oldest first. */
export interface RetentionPlan {
  readonly keep: KeptBackup[];
  readonly delete: RetentionCandidate[];
}

/**
 * Decides which backups to keep; pure: the same input gives the same plan. Per engine and database:
 *
 * - A backup counts for every tier it can stand for (as restic's `forget`): for each tier, the
 *   backup that stands for a period (day, ISO week, month, in `timeZone`) is the period's own
 *   scheduled run (label = the tier) when one exists, else the newest backup of the period, of any
 *   kind or label but pre-restore; the N most recent periods that have a backup are kept. So until
 *   a week's weekly run exists, the week's newest daily or manual backup stands in for it, and a
 *   failed run leaves its period to the newest backup there.
 * - The newest backup (not a pre-restore copy) is always kept, whatever the counts say.
 * - With `withinMs`, every backup taken within that long of the newest is kept.
 * - Pre-restore safety copies stand for no tier: each is kept `preRestoreDays` after it was taken.
 * - A backup under Object Lock (`retainUntil` after `now`) is kept until then.
 */
export function planRetention(candidates: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionPlan {
  const reasons = new Map<RetentionCandidate, string[]>(candidates.map((c) => [c, []]));
  const keepFor = (c: RetentionCandidate, reason: string) => reasons.get(c)?.push(reason);
  const groups = new Map<string, RetentionCandidate[]>();
  for (const c of candidates) {
    const group = `${c.engine}\u0000${c.database}`;
    const members = groups.get(group);
    if (members) members.push(c);
    else groups.set(group, [c]);
  }
  for (const group of groups.values()) {
    const backups = group.filter((c) => c.kind !== 'pre-restore').sort(newestFirst);
    const newest = backups[0];
    if (newest) keepFor(newest, 'newest');
    for (const tier of RETENTION_TIERS) {
      const standing = new Map<string, RetentionCandidate>();
      for (const b of backups) {
        const period = periodsOf(b.datetime, policy.timeZone)[tier];
        const current = standing.get(period);
        // Newest first: the first one seen stands, unless a later one is the period's own run.
        if (!current || (!isOwnRun(current, tier) && isOwnRun(b, tier))) standing.set(period, b);
      }
      const periods = [...standing.keys()].sort().reverse().slice(0, policy[tier]);
      for (const period of periods) keepFor(standing.get(period) as RetentionCandidate, `${tier} ${period}`);
    }
    if (newest && policy.withinMs !== undefined) {
      const from = Date.parse(newest.datetime) - policy.withinMs;
      for (const b of backups) if (Date.parse(b.datetime) >= from) keepFor(b, `within ${formatDuration(policy.withinMs)}`);
    }
    const youngFrom = now.getTime() - policy.preRestoreDays * DAY_MS;
    for (const c of group) {
      if (c.kind === 'pre-restore' && Date.parse(c.datetime) > youngFrom)
        keepFor(c, `pre-restore copy, younger than ${policy.preRestoreDays} days`);
    }
  }
  for (const c of candidates) {
    if (c.retainUntil !== undefined && Date.parse(c.retainUntil) > now.getTime())
      keepFor(c, `object lock until ${c.retainUntil}`);
  }
  const ordered = [...candidates].sort((a, b) => -newestFirst(a, b));
  return {
    keep: ordered.filter((c) => reasons.get(c)?.length).map((c) => ({ ...c, reasons: reasons.get(c) as string[] })),
    delete: ordered.filter((c) => !reasons.get(c)?.length),
  };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** Whether a backup is a scheduled run of this very tier. */
function isOwnRun(c: RetentionCandidate, tier: RetentionTier): boolean {
  return c.kind === 'scheduled' && c.label === tier;
}

function newestFirst(a: RetentionCandidate, b: RetentionCandidate): number {
  return b.datetime.localeCompare(a.datetime) || b.key.localeCompare(a.key);
}

const UNITS: ReadonlyArray<[string, number]> = [
  ['d', DAY_MS],
  ['h', 60 * 60 * 1000],
  ['m', 60 * 1000],
  ['s', 1000],
];

/** `7d`, `36h`, `1d12h`, `90m`: a duration as `parseDuration` reads it. */
export function formatDuration(ms: number): string {
  let rest = ms;
  let text = '';
  for (const [unit, size] of UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * size;
  }
  return text || '0s';
}

/** Reads `7d`, `36h`, `1d12h`, `90m`, `30s` (restic's units, less months and years, whose length varies); undefined if it is none. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+[dhms])+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([dhms])/g)) ms += Number(n) * (UNITS.find(([u]) => u === unit)?.[1] ?? 0);
  return ms;
}
