import { InvalidArgumentError } from 'commander';
import { ConfigError, DbBackupError, formatErrorLine, IntegrityError, type OptionName, type Wording } from '../shared/errors.js';
import { signalExitCode } from './stop-on-signal.js';
import { isSecretParameter } from '../shared/engines/registry.js';
import { locationSecrets, redactText } from '../shared/redact.js';
import { settings } from './cli-settings.js';

/**
 * What this run was given that it must never print: the secret fields of every location on its
 * command line (a `--source` or `--to` URL's password, a secret parameter) and PGPASSWORD,
 * found by parsing them. Whatever text reaches the user from elsewhere (a core error, a
 * deployed function's log) is cleaned of these.
 */
export function commandLineSecrets(argv: readonly string[] = process.argv.slice(2)): string[] {
  const values = argv.map((arg) => (/^--[^=]+=/.test(arg) ? arg.slice(arg.indexOf('=') + 1) : arg));
  return [...values.flatMap((value) => locationSecrets(value, isSecretParameter)), settings.env.PGPASSWORD ?? ''];
}

/** Text for the user, without anything {@link commandLineSecrets} names. */
export function withoutSecrets(text: string): string {
  return redactText(text, commandLineSecrets());
}
import { writeLines } from './printable.js';

/** Whether `--debug` was given anywhere on the command line (stack traces on errors). */
export const debugEnabled = (): boolean => process.argv.includes('--debug') || process.env.DBBACKUP_DEBUG === '1';

/**
 * The flag that sets each option a core message may name, with a placeholder for its value
 * (none for a switch). The commands in cli/commands/ declare these flags (a test checks).
 */
export const FLAGS: Readonly<Record<OptionName, readonly [flag: string, placeholder?: string]>> = {
  source: ['--source', 'URL'],
  target: ['--target', 'URL'],
  compression: ['--compression', 'KIND'],
  level: ['--level', 'N'],
  format: ['--format', 'FORMAT'],
  storageClass: ['--storage-class', 'CLASS'],
  sse: ['--sse', 'MODE'],
  kmsKeyId: ['--kms-key-id', 'ID'],
  database: ['--database', 'NAME'],
  latest: ['--latest'],
  file: ['--file', 'NAME'],
  path: ['--path', 'PATH_OR_URI'],
  noManifest: ['--no-manifest'],
  to: ['--to', 'URL'],
  confirm: ['--confirm', 'NAME'],
  missingRoles: ['--missing-roles', 'CHOICE'],
  dropReplaced: ['--drop-replaced'],
  keepDaily: ['--keep-daily', 'N'],
  keepWeekly: ['--keep-weekly', 'N'],
  keepMonthly: ['--keep-monthly', 'N'],
  keepWithin: ['--keep-within', 'DURATION'],
  keepPreRestoreDays: ['--keep-pre-restore-days', 'N'],
  keepRunsDays: ['--keep-runs-days', 'N'],
  orphansAfter: ['--orphans-after', 'DURATION'],
  timeZone: ['--time-zone', 'ZONE'],
  lockWaitSeconds: ['--lock-wait', 'SECONDS'],
  stack: ['--stack', 'NAME'],
  functionName: ['--function-name', 'NAME'],
};

/** The CLI's words for options: its flags, `--file NAME`, `--confirm app.db`. */
export const cliWording: Wording = {
  option: (name) => FLAGS[name][0],
  setting: (name, value) => {
    const [flag, placeholder] = FLAGS[name];
    const shown = value ?? placeholder;
    return shown === undefined ? flag : `${flag} ${shown}`;
  },
  howToList: 'run "dbbackup list --target URL"',
};

/**
 * Runs a subcommand's action and turns any failure into one line on stderr and the exit code:
 * 1 failed, 2 bad usage or configuration, 3 integrity, 130 or 143 stopped by SIGINT or SIGTERM.
 * With --debug, the stack and causes too.
 */
export function action<A extends unknown[]>(name: string, work: (...args: A) => Promise<number | undefined>) {
  return async (...args: A): Promise<void> => {
    try {
      process.exitCode = (await work(...args)) ?? 0;
    } catch (error) {
      writeLines(process.stderr, `dbbackup ${name}: ${withoutSecrets(formatErrorLine(error, cliWording))}`);
      if (debugEnabled()) {
        for (let e: unknown = error; e; e = (e as { cause?: unknown }).cause) {
          writeLines(process.stderr, ...withoutSecrets(e instanceof Error ? (e.stack ?? e.message) : String(e)).split('\n'));
        }
      } else if (!(error instanceof DbBackupError)) {
        writeLines(process.stderr, '(an unexpected error: run again with --debug for details, and please report it)');
      }
      process.exitCode = signalExitCode() ?? exitCodeOf(error);
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

/**
 * Parses an integer option, failing as a usage error. Decimal digits only: Number() alone reads ""
 * (an unset shell variable) as 0, which --keep-daily takes as "keep none", and "0x5" or "1e0" as
 * numbers the user did not write.
 */
export function integerOption(name: string) {
  return (value: string): number => {
    const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number (got "${value}")`);
    return n;
  };
}
