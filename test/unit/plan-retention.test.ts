import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  planRetention,
  type RetentionCandidate,
  type RetentionPolicy,
  parseDuration,
} from '../../shared/retention/plan-retention.js';
import { periodsOf } from '../../shared/retention/calendar-periods.js';

const DAY = 86_400_000;
const NOW = new Date('2026-11-22T12:00:00Z');

function backup(
  datetime: string,
  kind: RetentionCandidate['kind'] = 'scheduled',
  label: string | null = 'daily',
): RetentionCandidate {
  return { key: `sqlite/app/${datetime}`, engine: 'sqlite', database: 'app', datetime, kind, label };
}

const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({
  daily: 0,
  weekly: 0,
  monthly: 0,
  preRestoreDays: 30,
  timeZone: 'UTC',
  ...p,
});

const keptKeys = (plan: ReturnType<typeof planRetention>) => plan.keep.map((b) => b.datetime);

describe('planRetention: which backups a policy keeps', () => {
  test('keep-daily 2 keeps the newest backup of each of the two most recent days that have one', () => {
    const plan = planRetention(
      [
        backup('2026-11-22T01:00:00.000Z'),
        backup('2026-11-22T02:00:00.000Z', 'manual', null),
        backup('2026-11-20T23:00:00.000Z'),
        backup('2026-11-19T23:00:00.000Z'),
      ],
      policy({ daily: 2 }),
      NOW,
    );
    // Nov 22's own daily run stands for its day, not the later manual backup; the manual one is the newest.
    assert.deepEqual(keptKeys(plan), ['2026-11-20T23:00:00.000Z', '2026-11-22T01:00:00.000Z', '2026-11-22T02:00:00.000Z']);
    assert.deepEqual(plan.keep.at(-1)?.reasons, ['newest']);
    assert.deepEqual(plan.keep[1]?.reasons, ['daily 2026-11-22']);
    assert.deepEqual(
      plan.delete.map((b) => b.datetime),
      ['2026-11-19T23:00:00.000Z'],
    );
  });

  test("a week's own weekly run stands for the week; until it exists the week's newest daily stands in", () => {
    const plan = planRetention(
      [
        backup('2026-11-08T04:00:00.000Z', 'scheduled', 'weekly'), // Sunday of week 45
        backup('2026-11-08T23:00:00.000Z'), // the same Sunday's daily, newer
        backup('2026-11-16T23:00:00.000Z'), // Monday of week 47, no weekly run yet
        backup('2026-11-17T23:00:00.000Z'),
      ],
      policy({ weekly: 3 }),
      NOW,
    );
    assert.deepEqual(
      plan.keep.map((b) => [b.datetime, b.reasons]),
      [
        ['2026-11-08T04:00:00.000Z', ['weekly 2026-W45']],
        ['2026-11-17T23:00:00.000Z', ['newest', 'weekly 2026-W47']],
      ],
    );
  });

  test('a backup counts for every tier it stands for', () => {
    const plan = planRetention(
      [backup('2026-11-01T03:00:00.000Z', 'scheduled', 'monthly')],
      policy({ daily: 1, weekly: 1, monthly: 1 }),
      NOW,
    );
    assert.deepEqual(plan.keep[0]?.reasons, ['newest', 'daily 2026-11-01', 'weekly 2026-W44', 'monthly 2026-11']);
  });

  test('the newest backup is kept whatever the counts; pre-restore copies by age only; Object Lock holds the rest', () => {
    const plan = planRetention(
      [
        backup('2025-01-01T00:00:00.000Z'),
        { ...backup('2025-02-01T00:00:00.000Z'), retainUntil: '2026-12-01T00:00:00.000Z' },
        { ...backup('2026-11-01T00:00:00.000Z', 'pre-restore', 'before restore'), key: 'pre/young' },
        { ...backup('2026-10-01T00:00:00.000Z', 'pre-restore', 'before restore'), key: 'pre/old' },
      ],
      policy({ daily: 0, withinMs: parseDuration('1d') }),
      NOW,
    );
    assert.deepEqual(
      plan.keep.map((b) => [b.key, b.reasons]),
      [
        ['sqlite/app/2025-02-01T00:00:00.000Z', ['newest', 'within 1d', 'object lock until 2026-12-01T00:00:00.000Z']],
        ['pre/young', ['pre-restore copy, younger than 30 days']],
      ],
    );
    assert.deepEqual(
      plan.delete.map((b) => b.key),
      ['sqlite/app/2025-01-01T00:00:00.000Z', 'pre/old'],
    );
  });

  test('days, weeks and months are counted in the time zone given', () => {
    // 23:30 UTC on Sunday 31 May is already Monday 1 June in Berlin.
    assert.deepEqual(periodsOf('2026-05-31T23:30:00Z', 'Europe/Berlin'), {
      daily: '2026-06-01',
      weekly: '2026-W23',
      monthly: '2026-06',
    });
    assert.deepEqual(periodsOf('2026-05-31T23:30:00Z', 'UTC'), { daily: '2026-05-31', weekly: '2026-W22', monthly: '2026-05' });
    // ISO week years: 1 January 2027 is a Friday of 2026's week 53.
    assert.equal(periodsOf('2027-01-01T12:00:00Z', 'UTC').weekly, '2026-W53');
  });
});

/** A small deterministic generator (mulberry32), so a failing case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The reference model, written from the rules as the README states them, without the planner's
 * bookkeeping: a backup is kept when it is the newest; or for some tier it is the one standing for
 * its period (the period's own run if any, else the period's newest) and its period is among the N
 * most recent that have a backup; or it is within the window of the newest; or it is a young
 * pre-restore copy; or a lock holds it. Returns the keys kept.
 */
function referenceKept(all: readonly RetentionCandidate[], p: RetentionPolicy, now: Date): Set<string> {
  const kept = new Set<string>();
  const later = (x: RetentionCandidate, y: RetentionCandidate) =>
    x.datetime > y.datetime || (x.datetime === y.datetime && x.key > y.key);
  const periods = new Map(all.map((b) => [b, periodsOf(b.datetime, p.timeZone)]));
  for (const b of all) {
    if (b.retainUntil && Date.parse(b.retainUntil) > now.getTime()) kept.add(b.key);
    if (b.kind === 'pre-restore' && now.getTime() - Date.parse(b.datetime) < p.preRestoreDays * DAY) kept.add(b.key);
  }
  for (const database of new Set(all.map((b) => b.database))) {
    const same = all.filter((o) => o.kind !== 'pre-restore' && o.database === database);
    const newest = same.reduce((x, y) => (later(x, y) ? x : y));
    kept.add(newest.key);
    for (const b of same) {
      if (p.withinMs !== undefined && Date.parse(b.datetime) >= Date.parse(newest.datetime) - p.withinMs) kept.add(b.key);
    }
    for (const tier of ['daily', 'weekly', 'monthly'] as const) {
      const period = (o: RetentionCandidate) => (periods.get(o) as ReturnType<typeof periodsOf>)[tier];
      const recent = [...new Set(same.map(period))].sort().reverse().slice(0, p[tier]);
      for (const mine of recent) {
        const inPeriod = same.filter((o) => period(o) === mine);
        const own = inPeriod.filter((o) => o.kind === 'scheduled' && o.label === tier);
        const pool = own.length > 0 ? own : inPeriod;
        kept.add(pool.reduce((x, y) => (later(x, y) ? x : y)).key);
      }
    }
  }
  return kept;
}

/** Two years of runs: scheduled daily/weekly/monthly at their hours, some failed (missing), some manual, some pre-restore. */
function randomTimeline(rnd: () => number): RetentionCandidate[] {
  const start = Date.UTC(2024, 10, 1);
  const failRate = rnd() * 0.6;
  const out: RetentionCandidate[] = [];
  const add = (t: number, kind: RetentionCandidate['kind'], label: string | null, database: string) =>
    out.push({ key: `k${out.length}`, engine: 'postgres', database, datetime: new Date(t).toISOString(), kind, label });
  const days = 200 + Math.floor(rnd() * 530);
  for (let d = 0; d < days; d++) {
    const day = start + d * DAY;
    const date = new Date(day);
    const db = rnd() < 0.8 ? 'app' : 'other';
    if (rnd() > failRate) add(day + 23 * 3_600_000, 'scheduled', 'daily', db);
    if (date.getUTCDay() === 0 && rnd() > failRate) add(day + 4 * 3_600_000, 'scheduled', 'weekly', db);
    if (date.getUTCDate() === 1 && rnd() > failRate) add(day + 3 * 3_600_000, 'scheduled', 'monthly', db);
    if (rnd() < 0.05) add(day + Math.floor(rnd() * DAY), 'manual', rnd() < 0.5 ? null : 'weekly', db);
    if (rnd() < 0.02) add(day + Math.floor(rnd() * DAY), 'pre-restore', 'before restore', db);
  }
  return out.sort((a, b) => a.datetime.localeCompare(b.datetime));
}

describe('planRetention against a reference model, over random timelines', () => {
  test('a few hundred random timelines and policies: the planner keeps exactly what the model keeps, and its safety rules hold', () => {
    const base = Number(process.env.RETENTION_SEED ?? 20261122);
    for (let i = 0; i < 300; i++) {
      const seed = base + i;
      const rnd = random(seed);
      const backups = randomTimeline(rnd);
      const now = new Date(Date.parse(backups.at(-1)?.datetime ?? '2026-01-01T00:00:00Z') + rnd() * 40 * DAY);
      for (const b of backups) {
        if (rnd() < 0.03) Object.assign(b, { retainUntil: new Date(now.getTime() + (rnd() - 0.5) * 60 * DAY).toISOString() });
      }
      const p = policy({
        daily: Math.floor(rnd() * 10),
        weekly: Math.floor(rnd() * 8),
        monthly: Math.floor(rnd() * 14),
        withinMs: rnd() < 0.3 ? Math.floor(rnd() * 10 * DAY) : undefined,
        preRestoreDays: Math.floor(rnd() * 40),
        timeZone: rnd() < 0.5 ? 'UTC' : rnd() < 0.5 ? 'Europe/Berlin' : 'America/Los_Angeles',
      });
      const where = `seed ${seed} (replay: RETENTION_SEED=${seed}), policy ${JSON.stringify(p)}`;
      const plan = planRetention(backups, p, now);
      const kept = new Set(plan.keep.map((b) => b.key));
      assert.equal(plan.keep.length + plan.delete.length, backups.length, where);
      const expected = referenceKept(backups, p, now);
      for (const b of backups) assert.equal(kept.has(b.key), expected.has(b.key), `${where}: ${JSON.stringify(b)}`);
      for (const db of ['app', 'other']) {
        const newest = backups.filter((b) => b.database === db && b.kind !== 'pre-restore').at(-1);
        if (newest) assert.ok(kept.has(newest.key), `${where}: the newest of ${db} is kept`);
      }
      // Pruning what the plan keeps deletes nothing more: a second run changes nothing.
      const again = planRetention(
        backups.filter((b) => kept.has(b.key)),
        p,
        now,
      );
      assert.deepEqual(again.delete, [], `${where}: a second prune deletes nothing`);
    }
  });
});
