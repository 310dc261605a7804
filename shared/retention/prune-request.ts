import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { isTimeZone } from './calendar-periods.js';
import { parseDuration } from './plan-retention.js';

/** How long pre-restore safety copies are kept unless told: long enough to notice a wrong restore and undo it. */
export const DEFAULT_PRE_RESTORE_DAYS = 30;
/** How long run records are kept unless told: over a year, so a yearly report still finds last year's runs. */
export const DEFAULT_RUNS_DAYS = 400;
/**
 * How old a data object without a manifest must be before prune removes it as what a failed or
 * killed run left: longer than any backup takes (a backup task stops after a day by default), so a
 * running backup's data, whose manifest is still to come, is never taken for one.
 */
export const DEFAULT_ORPHANS_AFTER = '48h';
/** The shortest orphan age accepted: below it a slow backup's data could be taken for an orphan. */
const MIN_ORPHANS_AFTER_MS = 60 * 60 * 1000;

const count = z.number().int('must be a whole number').min(0, 'must be 0 or more').max(100_000, 'must be at most 100000');
const duration = z.string().refine((v) => parseDuration(v) !== undefined, 'must be a duration such as 7d, 36h or 1d12h');

/** What a prune is asked to do, as the CLI and the prune function both pass it. */
export const pruneRequestSchema = z
  .object({
    /** Only this database's backups, pre-restore copies and run records. @default every database in the target */
    database: z.string().min(1, 'must name a database').optional(),
    keepDaily: count.default(0),
    keepWeekly: count.default(0),
    keepMonthly: count.default(0),
    /** Keep every backup within this long of the newest, e.g. `7d`. */
    keepWithin: duration.optional(),
    keepPreRestoreDays: count.default(DEFAULT_PRE_RESTORE_DAYS),
    keepRunsDays: z
      .number()
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(100_000, 'must be at most 100000')
      .default(DEFAULT_RUNS_DAYS),
    orphansAfter: duration
      .refine((v) => (parseDuration(v) ?? 0) >= MIN_ORPHANS_AFTER_MS, 'must be at least 1h')
      .default(DEFAULT_ORPHANS_AFTER),
    /** The IANA time zone days, weeks and months are counted in. */
    timeZone: z
      .string()
      .refine((v) => isTimeZone(v), 'must be an IANA time zone such as Europe/Berlin')
      .default('UTC'),
  })
  .strict();

export type PruneRequestInput = z.input<typeof pruneRequestSchema>;
export type PruneRequest = z.output<typeof pruneRequestSchema>;

/**
 * Validates a prune request. A request that keeps nothing by count or age is refused: a typo
 * must not turn into "delete every backup but the newest".
 */
export function parsePruneRequest(input: unknown): PruneRequest {
  const request = parseOrConfigError(pruneRequestSchema, input);
  const within = request.keepWithin === undefined ? 0 : (parseDuration(request.keepWithin) ?? 0);
  if (request.keepDaily + request.keepWeekly + request.keepMonthly === 0 && within === 0) {
    throw new ConfigError('no retention policy: nothing would be kept but the newest backup of each database', {
      hint: (w) =>
        `give at least one of ${w.setting('keepDaily')}, ${w.setting('keepWeekly')}, ${w.setting('keepMonthly')} or ${w.setting('keepWithin')}`,
    });
  }
  return request;
}
