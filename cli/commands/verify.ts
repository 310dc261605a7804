import type { Command } from 'commander';
import { ConfigError } from '../../shared/errors.js';
import { chooseBackup, type ListedBackup, listBackups } from '../../shared/catalog/list-backups.js';
import { verifyBackup } from '../../shared/verify/verify-backup.js';
import { formatBytes, formatDuration } from '../format-units.js';
import { action } from '../action.js';
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
  const { backups } = await stop.guard(listBackups(target, { database: flags.database }));
  const chosen = chooseBackups(backups, flags, target.url);
  const results = [];
  for (const backup of chosen) {
    stop.phase = `verifying ${backup.manifest.backup_file}`;
    const verifying = verifyBackup(target, backup, settings, stop.signal);
    const result = await stop.guard(verifying).catch(async (error: unknown) => {
      // Stopped: the read ends too (the same signal), and removes its temp file first.
      await settleWithin(verifying);
      throw error;
    });
    results.push(result);
    if (!flags.json) {
      const what = `${backup.manifest.backup_file} (${formatBytes(backup.manifest.size_bytes)})`;
      if (result.ok)
        process.stdout.write(`ok       ${what}: size, sha256 and content checked in ${formatDuration(result.durationMs)}\n`);
      else process.stdout.write(`CORRUPT  ${what}: ${result.problem}\n`);
    }
  }
  if (flags.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  const failed = results.filter((r) => !r.ok).length;
  if (failed > 0) {
    process.stderr.write(
      `dbbackup verify: ${failed} of ${results.length} backup(s) failed verification; do not restore from them\n`,
    );
    return 3;
  }
  return 0;
}

function chooseBackups(backups: ListedBackup[], flags: VerifyFlags, target: string): ListedBackup[] {
  if (flags.all) {
    if (backups.length === 0) throw new ConfigError('no completed backups to verify', { hint: 'check --target and --database' });
    return backups;
  }
  return [chooseBackup(backups, { file: flags.file, database: flags.database, where: target })];
}
