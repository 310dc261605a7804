import { type Command, Option } from 'commander';
import { COMPRESSIONS } from '../../shared/compression/compression.js';
import type { Manifest } from '../../shared/manifest.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { STORAGE_CLASSES } from '../../shared/targets/target.js';
import { formatBytes, formatDuration } from '../format-units.js';
import { ProgressLine } from '../progress-line.js';
import { action, cliWording, integerOption, withoutSecrets } from '../action.js';
import { writeJson, writeLines } from '../printable.js';
import { targetOptions } from '../target-flags.js';
import { settings } from '../cli-settings.js';
import { choosableFormats, type DumpFormat } from '../../shared/engines/registry.js';
import { stopOnSignal, TIMEOUT_HELP, timeoutOption } from '../stop-on-signal.js';

interface BackupFlags {
  source: string;
  target: string;
  name?: string;
  compression: (typeof COMPRESSIONS)[number];
  level?: number;
  format?: DumpFormat;
  storageClass?: (typeof STORAGE_CLASSES)[number];
  sse?: 'AES256' | 'aws:kms';
  kmsKeyId?: string;
  s3Checksums?: 'when_supported' | 'when_required';
  json?: boolean;
  timeout?: number;
  lockWait?: number;
}

/** `dbbackup backup`: one verified backup of one database. */
export function registerBackup(program: Command): void {
  targetOptions(
    program
      .command('backup')
      .description('back up one database to S3 or a directory (dump → compress → SHA-256 → upload, then the manifest)')
      .requiredOption(
        '-s, --source <url>',
        'database: postgres://user@host:5432/db, sqlite:///path.db or a path ending in .db/.sqlite/.sqlite3',
      ),
  )
    .option('--name <label>', "name used in keys instead of the database's own")
    .addOption(new Option('--compression <kind>', 'compression').choices(COMPRESSIONS).default('gzip'))
    .option('--level <n>', 'compression level (gzip 1-9, default 5; zstd 1-19, default 2)', integerOption('--level'))
    .addOption(
      new Option(
        '--format <format>',
        'dump format, for engines that write several (PostgreSQL: custom, the default, or plain)',
      ).choices(choosableFormats()),
    )
    .addOption(new Option('--storage-class <class>', 'S3 storage class (default STANDARD)').choices(STORAGE_CLASSES))
    .addOption(
      new Option(
        '--sse <mode>',
        "S3 server-side encryption to ask for (default: none asked, the bucket's default encryption applies)",
      ).choices(['AES256', 'aws:kms']),
    )
    .option('--kms-key-id <id>', 'KMS key id or ARN for --sse aws:kms')
    .option('--json', 'print the manifest as JSON on stdout')
    .option('--timeout <seconds>', TIMEOUT_HELP, timeoutOption)
    .option(
      '--lock-wait <seconds>',
      'PostgreSQL: how long to wait for a table another session has locked (ALTER TABLE) before failing (default 300)',
      integerOption('--lock-wait'),
    )
    .action(
      action('backup', async (flags: BackupFlags) => {
        const manifest = await backupWithProgress(flags);
        if (flags.json) writeJson(process.stdout, manifest);
        else writeLines(process.stdout, summaryLine(manifest), ...clientLines(manifest));
        return 0;
      }),
    );
}

/** Runs a backup, drawing progress on a TTY, cancelling cleanly on Ctrl-C or SIGTERM, and at --timeout. */
export async function backupWithProgress(flags: BackupFlags): Promise<Manifest> {
  const progress = new ProgressLine();
  const stop = stopOnSignal(flags.timeout);
  try {
    return await runBackup(
      {
        source: flags.source,
        target: flags.target,
        name: flags.name,
        compression: flags.compression,
        level: flags.level,
        format: flags.format,
        storageClass: flags.storageClass,
        sse: flags.sse,
        kmsKeyId: flags.kmsKeyId,
        s3Checksums: flags.s3Checksums,
        lockWaitSeconds: flags.lockWait,
      },
      {
        onProgress: (p) => progress.update(p),
        signal: stop.signal,
        deadline: stop.deadline,
        settings,
        wording: cliWording,
        onWarning: (message) => {
          progress.clear();
          writeLines(process.stderr, `warning: ${withoutSecrets(message)}`);
        },
      },
    );
  } finally {
    progress.clear();
    stop.dispose();
  }
}

/**
 * The versions the manifest records, so the user sees which client dumped which server
 * (PostgreSQL: `written by pg_dump (PostgreSQL) 16.4 from server 16.4`).
 */
function clientLines(m: Manifest): string[] {
  const { server, ...clients } = m.engine_version;
  const by = Object.entries(clients).map(([name, version]) => (version.startsWith(name) ? version : `${name} ${version}`));
  if (by.length === 0) return [];
  return [`written by ${by.join(', ')}${server ? ` from server ${server}` : ''}`];
}

/** `backup completed: <location> (1.2 MB from 4.5 MB, gzip, 3.1 s, sha256 ab12cd34…)` */
export function summaryLine(m: Manifest): string {
  const ratio = m.size_bytes > 0 ? ` from ${formatBytes(m.source_size_bytes)}` : '';
  return `backup completed: ${m.location} (${formatBytes(m.size_bytes)}${ratio}, ${m.compression}, ${formatDuration(m.duration_ms)}, sha256 ${m.hash.slice(0, 12)}…)`;
}
