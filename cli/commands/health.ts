import { type Command, InvalidArgumentError } from 'commander';
import { checkHealth, DEFAULT_VERIFY_NEWEST } from '../../shared/health/check-health.js';
import { DEFAULT_MAX_DRILL_AGE_DAYS } from '../../shared/health/drill-health.js';
import { describeHealth } from '../../shared/health/describe-health.js';
import { RunStop, settleWithin } from '../../shared/pipeline/run-stop.js';
import { action, integerOption } from '../action.js';
import { settings } from '../cli-settings.js';
import { writeJson, writeLines } from '../printable.js';
import { ProgressLine } from '../progress-line.js';
import { stopOnSignal, TIMEOUT_HELP, timeoutOption } from '../stop-on-signal.js';
import { openTargetFromFlags, type TargetFlags, targetOptions } from '../target-flags.js';

interface HealthFlags extends TargetFlags {
  database?: string;
  verify: number;
  maxAge?: Record<string, number>;
  shrinkPercent?: number;
  rowsDropPercent?: number;
  drillMaxAge?: number;
  json?: boolean;
  timeout?: number;
}

/** The exit code of each verdict: a warning is worth a look (1), a broken database cannot be relied on (3). */
const EXIT_CODES = { healthy: 0, warning: 1, broken: 3 } as const;

/** `dbbackup health`: whether each database's backups are recent, readable and plausible. Exit 0, 1 or 3. */
export function registerHealth(program: Command): void {
  targetOptions(
    program
      .command('health')
      .description('check that backups are recent, readable and plausible (exit 0 healthy, 1 warning, 3 broken)')
      .option('-d, --database <name>', 'only this database (it is broken when it has no backup)')
      .option('--verify <n>', 're-read the newest N backups of each database', nonNegative('--verify'), DEFAULT_VERIFY_NEWEST)
      .option(
        '--max-age <tier=age,…>',
        'the oldest each tier’s newest backup may be, e.g. daily=26h,weekly=8d (defaults: daily=26h, weekly=8d, monthly=32d, manual=26h); a tier named here is checked even with no backup',
        maxAges,
      )
      .option(
        '--shrink-percent <p>',
        'warn when a backup is this much smaller than the one before it (default 50)',
        percent('--shrink-percent'),
      )
      .option(
        '--rows-drop-percent <p>',
        'warn when a table’s exact row count fell by this much since the backup before (default 50)',
        percent('--rows-drop-percent'),
      )
      .option(
        '--drill-max-age <days>',
        `warn when no restore drill (dbbackup drill) of a database has passed within this many days (e.g. ${DEFAULT_MAX_DRILL_AGE_DAYS}; default: drills not checked)`,
        positiveDays('--drill-max-age'),
      )
      .option('--json', 'print the report as JSON on stdout')
      .option('--timeout <seconds>', TIMEOUT_HELP, timeoutOption),
  ).action(
    action('health', async (flags: HealthFlags) => {
      const signals = stopOnSignal(flags.timeout);
      const stop = new RunStop('health', {
        signal: signals.signal,
        deadline: signals.deadline,
        hint: 'health only reads: nothing was changed; run it again',
      });
      const progress = new ProgressLine();
      try {
        const target = await openTargetFromFlags(flags);
        stop.phase = 'checking backups';
        const checking = checkHealth(
          target,
          {
            // A tier named in --max-age is checked even where it has no backup.
            databases: flags.database ? [{ name: flags.database, tiers: Object.keys(flags.maxAge ?? {}) }] : undefined,
            tiers: Object.keys(flags.maxAge ?? {}),
            verifyNewest: flags.verify,
            maxAgeHours: flags.maxAge ?? {},
            shrinkPercent: flags.shrinkPercent,
            rowsDropPercent: flags.rowsDropPercent,
            drills: flags.drillMaxAge === undefined ? undefined : { maxAgeDays: flags.drillMaxAge },
          },
          {
            settings,
            signal: stop.signal,
            onProgress: (backup, p) => {
              stop.phase = `verifying ${backup.manifest.backup_file}`;
              progress.update(p);
            },
          },
        );
        const report = await stop
          .guard(checking)
          .catch(async (error: unknown) => {
            await settleWithin(checking);
            throw error;
          })
          .finally(() => progress.clear());
        if (flags.json) writeJson(process.stdout, report);
        else writeLines(process.stdout, ...describeHealth(report));
        return EXIT_CODES[report.status];
      } finally {
        stop.dispose();
        signals.dispose();
      }
    }),
  );
}

/** `daily=26h,weekly=8d`: hours per tier; `h` hours, `d` days, `w` weeks. */
export function maxAges(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const ages = { ...previous };
  for (const part of value.split(',')) {
    const match = /^\s*([a-z][a-z0-9_-]*)=(\d+(?:\.\d+)?)(h|d|w)\s*$/i.exec(part);
    if (!match)
      throw new InvalidArgumentError(`"${part}" is not TIER=AGE: write e.g. daily=26h,weekly=8d (h hours, d days, w weeks)`);
    const [, tier, amount, unit] = match as unknown as [string, string, string, 'h' | 'd' | 'w'];
    const hours = Number(amount) * { h: 1, d: 24, w: 168 }[unit.toLowerCase() as 'h' | 'd' | 'w'];
    if (hours <= 0) throw new InvalidArgumentError(`the maximum age of ${tier} must be more than 0 (got "${part}")`);
    ages[tier.toLowerCase()] = hours;
  }
  return ages;
}

function nonNegative(flag: string) {
  const whole = integerOption(flag);
  return (value: string): number => {
    const n = whole(value);
    if (n < 0) throw new InvalidArgumentError(`${flag} must be 0 or more (got "${value}")`);
    return n;
  };
}

function positiveDays(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(Number.isFinite(n) && n > 0))
      throw new InvalidArgumentError(`${flag} must be a number of days above 0 (got "${value}")`);
    return n;
  };
}

function percent(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!(n > 0 && n <= 100))
      throw new InvalidArgumentError(`${flag} must be a percentage above 0 and at most 100 (got "${value}")`);
    return n;
  };
}
