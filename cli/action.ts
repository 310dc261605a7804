import { InvalidArgumentError } from 'commander';
import { ConfigError, DbBackupError, formatErrorLine, IntegrityError } from '../shared/errors.js';
import { redactText } from '../shared/redact.js';

/** Whether `--debug` was given anywhere on the command line (stack traces on errors). */
export const debugEnabled = (): boolean => process.argv.includes('--debug') || process.env.DBBACKUP_DEBUG === '1';

/**
 * Runs a subcommand's action and turns any failure into one line on stderr and the exit code:
 * 1 failed, 2 bad usage or configuration, 3 integrity. With --debug, the stack and causes too.
 */
export function action<A extends unknown[]>(name: string, work: (...args: A) => Promise<number | undefined>) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = (await work(...args)) ?? 0;
    } catch (error) {
      process.stderr.write(`dbbackup ${name}: ${redactText(formatErrorLine(error))}\n`);
      if (debugEnabled()) {
        for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
          process.stderr.write(`${redactText(e instanceof Error ? (e.stack ?? e.message) : String(e))}\n`);
        }
      } else if (!(error instanceof DbBackupError)) {
        process.stderr.write('(an unexpected error: run again with --debug for details, and please report it)\n');
      }
      process.exitCode = exitCodeOf(error);
    }
  };
}

/**
 * The CLI's exit code for a failure: 2 bad usage or configuration, 3 an integrity check failed,
 * 1 anything else (a dump, storage or restore failure, or an unexpected error).
 */
export function exitCodeOf(error: unknown): 1 | 2 | 3 {
  if (error instanceof ConfigError) return 2;
  if (error instanceof IntegrityError) return 3;
  return 1;
}

/** Parses an integer option, failing as a usage error. */
export function integerOption(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number (got "${value}")`);
    return n;
  };
}
