import { createInterface } from 'node:readline/promises';
import { type Command, Option } from 'commander';
import { MISSING_ROLES_CHOICES, type MissingRolesChoice } from '../../shared/engines/destination.js';
import { type RestorePlan, type RestoreResult, runRestore } from '../../shared/restore/run-restore.js';
import { formatAge, formatBytes, formatDuration } from '../format-units.js';
import { action } from '../action.js';
import { ProgressLine } from '../progress-line.js';
import { printable, writeJson, writeLines } from '../printable.js';
import { settings } from '../cli-settings.js';
import { stopOnSignal, TIMEOUT_HELP, timeoutOption } from '../stop-on-signal.js';

interface RestoreFlags {
  target?: string;
  latest?: boolean;
  file?: string;
  database?: string;
  path?: string;
  manifest: boolean;
  to: string;
  confirm?: string;
  dryRun?: boolean;
  safetyBackup: boolean;
  safetyTarget?: string;
  keepOwner?: boolean;
  missingRoles?: MissingRolesChoice;
  dropReplaced?: boolean;
  s3Checksums?: 'when_supported' | 'when_required';
  json?: boolean;
  timeout?: number;
}

/** `dbbackup restore`: verified, confirmed, all-or-nothing restore of one backup into one database. */
export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description('restore a backup into a database: verified before and after, confirmed, all or nothing')
    .option('-t, --target <url>', 'where backups are (with --latest or --file): s3://bucket/prefix or a directory')
    .option('--latest', 'the newest completed backup of --database (pre-restore safety copies are skipped: use --file for those)')
    .option('--file <name>', 'the backup with this file name, as "list" shows it')
    .option('-d, --database <name>', 'the database the backup must be of (with --latest, required when the target holds several)')
    .option('--path <path-or-uri>', 'any backup: s3://bucket/key, or a local path (relative, absolute, or C:\\… on Windows)')
    .option('--no-manifest', 'with --path: restore even without the manifest beside it (nothing can be verified)')
    .requiredOption('--to <url>', 'destination: postgres://user@host/db (created if missing) or sqlite:///path/app.db')
    .option('--confirm <name>', 'the destination database name (SQLite: the file name, e.g. app.db), to proceed without a prompt')
    .option('--dry-run', 'verify the backup and show what would be replaced; change nothing')
    .option(
      '--no-safety-backup',
      'do not back up a destination that holds data before replacing it, nor keep what the restore replaced',
    )
    .option('--safety-target <url>', 'where the pre-restore backup goes (default: where the backup came from)')
    .option('--keep-owner', 'PostgreSQL: keep the original object owners (default: objects belong to the restoring user)')
    .addOption(
      new Option(
        '--missing-roles <choice>',
        'PostgreSQL, when grants or policies in the backup name roles this server lacks: refuse (default: nothing changes), ' +
          'create-nologin (create them without login), skip-their-grants (leave out only their grants and policies)',
      ).choices(MISSING_ROLES_CHOICES),
    )
    .option(
      '--drop-replaced',
      'drop what the restore replaced instead of keeping it as the undo (PostgreSQL: the replaced database; SQLite: ' +
        'the copy kept when the application wrote after the safety backup); writes made after the safety backup are then in no copy',
    )
    .option('--s3-checksums <mode>', 'when_required for S3-compatible servers')
    .option('--json', 'print what was restored and the checks as JSON on stdout')
    .option('--timeout <seconds>', TIMEOUT_HELP, timeoutOption)
    .action(
      action('restore', async (flags: RestoreFlags) => {
        const tty = Boolean(process.stdin.isTTY && process.stderr.isTTY);
        const say = (...lines: string[]) => {
          if (!flags.json || tty) writeLines(process.stderr, ...lines);
        };
        const stop = stopOnSignal(flags.timeout);
        const progress = new ProgressLine();
        const result = await runRestore(
          {
            target: flags.target,
            latest: flags.latest,
            file: flags.file,
            database: flags.database,
            path: flags.path,
            noManifest: !flags.manifest,
            to: flags.to,
            confirm: flags.confirm,
            dryRun: flags.dryRun,
            noSafetyBackup: !flags.safetyBackup,
            safetyTarget: flags.safetyTarget,
            keepOwner: flags.keepOwner,
            missingRoles: flags.missingRoles,
            dropReplaced: flags.dropReplaced,
            s3Checksums: flags.s3Checksums,
          },
          {
            onPhase: (phase) => {
              progress.clear();
              if (tty) say(`… ${phase}`);
            },
            onProgress: (p) => progress.update(p),
            settings,
            onPlan: (plan) => {
              progress.clear();
              say(...planText(plan));
            },
            ask: tty && !flags.confirm ? (plan) => prompt(plan) : undefined,
            signal: stop.signal,
            deadline: stop.deadline,
          },
        ).finally(() => {
          progress.clear();
          stop.dispose();
        });
        if (flags.json) writeJson(process.stdout, result);
        else writeLines(process.stdout, ...summary(result));
        return 0;
      }),
    );
}

function planText(plan: RestorePlan): string[] {
  const b = plan.backup;
  const d = plan.destination;
  const taken = b.datetime
    ? `taken ${b.datetime.replace(/\.\d+Z$/, 'Z')} (${formatAge(b.ageSeconds ?? 0)} ago)`
    : 'of unknown date (no manifest)';
  const replaced = d.exists
    ? `REPLACES ${d.noun} "${d.name}" at ${d.description}: ${formatBytes(d.sizeBytes ?? 0)}, ${d.tables} tables${d.hasData ? '' : ' (no data)'}`
    : `creates ${d.noun} "${d.name}" at ${d.description}`;
  return [
    `backup:      ${b.location}`,
    `             ${taken}, ${formatBytes(b.sizeBytes)}, ${b.verified ? 'its size matches its manifest, its SHA-256 is checked as it restores, before anything is replaced' : 'NOT VERIFIED (no manifest)'}`,
    `restore:     ${replaced}`,
  ];
}

async function prompt(plan: RestorePlan): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(`Type the destination name (${printable(plan.destination.name)}) to proceed: `)).trim();
  } finally {
    rl.close();
  }
}

function summary(r: RestoreResult): string[] {
  if (r.dryRun)
    return [`dry run: the backup checks out; nothing was changed (restore with --confirm ${r.plan.destination.name})`];
  const lines = [
    `restored ${r.plan.destination.name}: ${r.tables} tables, ${r.rows} rows, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)}; ${r.checks.filter((c) => c.ok).length}/${r.checks.length} checks passed`,
  ];
  if (r.client) lines.push(`restored with ${r.client}`);
  if (r.safetyBackup && r.replaced) {
    lines.push(`the previous content is backed up at ${r.safetyBackup}, as it was when that backup was taken`);
  } else if (r.safetyBackup) {
    lines.push(`the previous content is backed up at ${r.safetyBackup} (restore it with --path to undo)`);
  }
  if (r.replaced) {
    lines.push(
      `kept ${r.replaced.description}: ${r.replaced.name}`,
      `  to undo: ${r.replaced.undo}`,
      `  when satisfied, remove it (it takes as much disk as the database did): ${r.replaced.drop}`,
    );
  }
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  return lines;
}
