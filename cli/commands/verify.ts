import type { Command } from 'commander';
import { ConfigError } from '../../shared/errors.js';
import {
  chooseBackup,
  type ListedBackup,
  listBackups,
  type ManifestProblem,
  problemNamed,
  unreadableNewerThan,
} from '../../shared/catalog/list-backups.js';
import { unreadableManifestResult, verifyBackup } from '../../shared/verify/verify-backup.js';
import { formatBytes, formatDuration } from '../format-units.js';
import { action } from '../action.js';
import { ProgressLine } from '../progress-line.js';
import { writeJson, writeLines } from '../printable.js';
import { openTargetFromFlags, type TargetFlags, targetOptions } from '../target-flags.js';
import { settings } from '../cli-settings.js';
import { RunStop, settleWithin } from '../../shared/pipeline/run-stop.js';
import { stopOnSignal, TIMEOUT_HELP, timeoutOption } from '../stop-on-signal.js';

interface VerifyFlags extends TargetFlags {
  database?: string;
  latest?: boolean;
  file?: string;
  all?: boolean;
  json?: boolean;
  timeout?: number;
}

/** `dbbackup verify`: re-reads stored backups and checks them against their manifests. Exit 3 on any mismatch. */
export function registerVerify(program: Command): void {
  targetOptions(
    program
      .command('verify')
      .description('re-read backups and check size, SHA-256 and that the archive is readable (exit 3 if not)')
      .option('-d, --database <name>', 'the database (required with --latest when the target holds several)')
      .option('--latest', 'the newest backup (the default)')
      .option('--file <name>', 'the backup with this file name, as "list" shows it')
      .option('--all', 'every backup (of --database, if given)')
      .option('--json', 'print the results as JSON on stdout')
      .option('--timeout <seconds>', TIMEOUT_HELP, timeoutOption),
  ).action(
    action('verify', async (flags: VerifyFlags) => {
      if ([flags.latest, flags.file, flags.all].filter(Boolean).length > 1) {
        throw new ConfigError('choose one of --latest, --file and --all');
      }
      const signals = stopOnSignal(flags.timeout);
      const stop = new RunStop('verify', {
        signal: signals.signal,
        deadline: signals.deadline,
        hint: 'verify only reads: nothing was changed; run it again to check every backup',
      });
      try {
        return await verifyChosen(flags, stop);
      } finally {
        stop.dispose();
        signals.dispose();
      }
    }),
  );
}

/** Verifies the backups the flags choose, one by one, until done or stopped. */
async function verifyChosen(flags: VerifyFlags, stop: RunStop): Promise<number> {
  const target = await openTargetFromFlags(flags);
  stop.phase = 'listing backups';
  // "The latest" is judged by time, as restore --latest judges it: one dated ahead of this clock is set
  // aside and named (a failure: the latest cannot be told); --file and --all re-read whatever is there.
  const now = flags.file || flags.all ? undefined : new Date();
  const { backups, problems } = await stop.guard(listBackups(target, { database: flags.database, now }));
  const { chosen, damaged } = chooseBackups(backups, problems, flags, target.url);
  for (const p of problems) {
    if (!damaged.includes(p)) writeLines(process.stderr, `warning: unreadable manifest ${p.key}: ${p.error}`);
  }
  // An unreadable manifest fails like a corrupt backup: whatever it described cannot be checked.
  const results = damaged.map(unreadableManifestResult);
  if (!flags.json) for (const r of results) writeLines(process.stdout, `CORRUPT  ${r.backupFile}: ${r.problem}`);
  for (const backup of chosen) {
    stop.phase = `verifying ${backup.manifest.backup_file}`;
    const progress = new ProgressLine();
    const verifying = verifyBackup(target, backup, settings, stop.signal, (p) => progress.update(p));
    const result = await stop
      .guard(verifying)
      .catch(async (error: unknown) => {
        // Stopped: the read ends too (the same signal), and removes its temp file first.
        await settleWithin(verifying);
        throw error;
      })
      .finally(() => progress.clear());
    results.push(result);
    if (!flags.json) {
      const what = `${backup.manifest.backup_file} (${formatBytes(backup.manifest.size_bytes)})`;
      if (result.ok)
        writeLines(process.stdout, `ok       ${what}: size, sha256 and content checked in ${formatDuration(result.durationMs)}`);
      else writeLines(process.stdout, `CORRUPT  ${what}: ${result.problem}`);
    }
  }
  if (flags.json) writeJson(process.stdout, results);
  const failed = results.filter((r) => !r.ok).length;
  if (failed > 0) {
    writeLines(
      process.stderr,
      `dbbackup verify: ${failed} of ${results.length} backup(s) failed verification; do not restore from them`,
    );
    return 3;
  }
  return 0;
}

/**
 * The backups to re-read, and the unreadable manifests that count as failures: all of them with
 * --all, the one named with --file, and with --latest those that may be newer than the newest
 * readable backup (which of them is the latest cannot be told).
 */
function chooseBackups(
  backups: ListedBackup[],
  problems: ManifestProblem[],
  flags: VerifyFlags,
  target: string,
): { chosen: ListedBackup[]; damaged: ManifestProblem[] } {
  if (flags.all) {
    if (backups.length === 0 && problems.length === 0) {
      throw new ConfigError('no completed backups to verify', { hint: 'check --target and --database' });
    }
    return { chosen: backups, damaged: problems };
  }
  const named = flags.file ? problemNamed(problems, flags.file) : undefined;
  if (named && !backups.some((b) => b.manifest.backup_file === flags.file || b.key === flags.file)) {
    return { chosen: [], damaged: [named] };
  }
  if (!flags.file && backups.length === 0 && problems.length > 0) return { chosen: [], damaged: problems };
  const chosen = chooseBackup(backups, { file: flags.file, database: flags.database, where: target }, problems);
  return { chosen: [chosen], damaged: flags.file ? [] : unreadableNewerThan(problems, chosen) };
}
