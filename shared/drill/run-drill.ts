import { locateBackup } from '../catalog/locate-backup.js';
import type { RestoreCheck, ScratchDestination } from '../engines/destination.js';
import { engineOf } from '../engines/registry.js';
import { ConfigError, coreWording, formatErrorLine, type Wording } from '../errors.js';
import type { ReadProgress } from '../pipeline/read-progress.js';
import { type Deadline, RunStop, settleWithin } from '../pipeline/run-stop.js';
import { runRestore } from '../restore/run-restore.js';
import { newRunId, RUN_RECORD_VERSION, writeRunRecord } from '../runs/run-record.js';
import { defaultSettings, type Settings } from '../settings.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ChecksumMode } from '../targets/s3-target.js';
import type { Sse } from '../targets/target.js';
import { toolVersion } from '../tool-version.js';

/** Which backup to drill, and where its scratch destination may be made. */
export interface DrillRequest {
  /** Where the backups are; the drill's run record is written there too. */
  readonly target: string;
  /** The database whose newest backup is drilled. */
  readonly database: string;
  /**
   * PostgreSQL: the scratch server, as a URL without a database (its login needs CREATEDB);
   * SQLite: the directory for the scratch file. @default SQLite: the temp dir; PostgreSQL: none (refused)
   */
  readonly into?: string;
  readonly s3Checksums?: ChecksumMode;
  /**
   * S3 only: the encryption the run record is written with, as a backup's `sse`/`kmsKeyId`; a
   * bucket whose policy requires one refuses any other. @default none asked: the bucket's default
   */
  readonly recordEncryption?: { readonly sse: Sse; readonly kmsKeyId?: string };
}

/** Hooks a front end gives a drill. */
export interface DrillContext {
  /** What the edge read from its environment. @default defaultSettings() */
  readonly settings?: Settings;
  /** Aborting stops the drill in any phase; the scratch destination is removed and the record written all the same. */
  readonly signal?: AbortSignal;
  readonly deadline?: Deadline;
  readonly now?: () => Date;
  readonly onPhase?: (phase: string) => void;
  readonly onProgress?: (progress: ReadProgress) => void;
  /** The front end's words, for the error line a failed drill's record keeps. @default coreWording */
  readonly wording?: Wording;
  /** Told what went wrong around the drill without changing its result: a scratch left behind, a record not written. */
  readonly onWarning?: (warning: string) => void;
  /** The runtime's S3 client, for finding the backup and writing the record. @default one made for this drill */
  readonly s3Client?: S3Client;
}

/** A passed drill. (A failed one throws its error, after its record is written.) */
export interface DrillResult {
  readonly result: 'succeeded';
  readonly database: string;
  readonly engine: string;
  /** The backup restored, relative to the target root, as the run record names it. */
  readonly backupKey: string;
  /** Its file name, as `list` shows it. */
  readonly backupFile: string;
  readonly backupLocation: string;
  readonly backupDatetime: string;
  readonly backupAgeSeconds: number;
  /** Where it was restored (removed since), without secrets. */
  readonly scratch: string;
  /** The measured time to restore: find, download, check, restore and verify. */
  readonly restoreMs: number;
  readonly tables: number;
  readonly rows: number;
  readonly checks: readonly RestoreCheck[];
  readonly warnings: readonly string[];
  /** The run record's key, or why it could not be written. */
  readonly record: { key: string } | { error: string };
}

/**
 * Proves the newest backup of a database restores: restores it, with every check a restore makes
 * (size and SHA-256 before anything is created, row counts after), into a scratch destination
 * made for this drill alone (a new database on the scratch server, or a file in a directory of
 * its own), removes that whatever happens, and records the run (kind `drill`) beside the backups.
 * Refusals before a scratch destination is made (bad input, no backup) record nothing; from then
 * on a record is written whether the drill passed, failed or was stopped. The source database is
 * never contacted: the backup is read from the target.
 */
export async function runDrill(request: DrillRequest, context: DrillContext = {}): Promise<DrillResult> {
  const settings = context.settings ?? defaultSettings();
  const now = context.now ?? (() => new Date());
  const stop = new RunStop(`drill of ${request.database}`, {
    signal: context.signal,
    deadline: context.deadline,
    hint: 'nothing was made',
  });
  let located: Awaited<ReturnType<typeof locateBackup>>;
  let scratch: ScratchDestination;
  try {
    stop.phase = 'finding the backup';
    located = await stop.guard(
      locateBackup(
        { target: request.target, latest: true, database: request.database },
        {
          checksums: request.s3Checksums,
          settings,
          client: context.s3Client,
          sse: request.recordEncryption?.sse,
          kmsKeyId: request.recordEncryption?.kmsKeyId,
        },
      ),
    );
    const manifest = located.manifest;
    // locateBackup with `latest` always reads a manifest; the guard says so to the type checker.
    if (!manifest) throw new ConfigError(`no manifest for ${located.fileName}`);
    stop.phase = 'preparing the scratch destination';
    const opening = engineOf(manifest.engine).openScratch({
      into: request.into,
      database: request.database,
      settings,
      now: now(),
    });
    scratch = await stop.guard(opening).catch(async (error: unknown) => {
      // Stopped while it was being made: what it made goes too.
      await settleWithin(opening.then((made) => made.remove()));
      throw error;
    });
  } finally {
    stop.dispose();
  }
  return drillInto(located, scratch, request, context, now);
}

async function drillInto(
  located: Awaited<ReturnType<typeof locateBackup>>,
  scratch: ScratchDestination,
  request: DrillRequest,
  context: DrillContext,
  now: () => Date,
): Promise<DrillResult> {
  const manifest = located.manifest as NonNullable<typeof located.manifest>;
  const startedAt = now();
  const warnings: string[] = [...(scratch.notes ?? [])];
  let restored: Awaited<ReturnType<typeof runRestore>> | undefined;
  let failure: unknown;
  try {
    restored = await runRestore(
      // By file name: a backup stored meanwhile is not what was chosen, and the record says which was read.
      {
        target: request.target,
        file: manifest.backup_file,
        database: request.database,
        to: scratch.url,
        s3Checksums: request.s3Checksums,
      },
      {
        settings: context.settings,
        signal: context.signal,
        deadline: context.deadline,
        now,
        onPhase: context.onPhase,
        onProgress: context.onProgress,
        // The confirmation a new destination needs, given only while it is still new: were the
        // name taken meanwhile, the restore would replace someone's database, and it must not.
        ask: async (plan) => {
          if (plan.destination.exists) {
            throw new ConfigError(
              `the scratch ${plan.destination.noun} "${scratch.name}" appeared while the drill prepared it; nothing was changed`,
            );
          }
          return scratch.name;
        },
      },
    );
  } catch (error) {
    failure = error;
  }
  const restoreMs = Math.max(1, now().getTime() - startedAt.getTime());
  let removal: unknown;
  const removed = await settleWithin(scratch.remove().catch((error: unknown) => (removal = error ?? 'failed')));
  if (!removed || removal !== undefined) {
    const why = removal === undefined ? 'it did not answer in time' : formatErrorLine(removal, context.wording);
    warnings.push(`the scratch ${scratch.description} could not be removed (${why}): remove it by hand`);
  }
  const record = await writeRunRecord(located.target, {
    record_version: RUN_RECORD_VERSION,
    run_id: newRunId(),
    database: manifest.database,
    engine: manifest.engine,
    kind: 'drill',
    tier: null,
    result: failure === undefined ? 'succeeded' : 'failed',
    error: failure === undefined ? null : formatErrorLine(failure, context.wording ?? coreWording),
    started_at: startedAt.toISOString(),
    ended_at: new Date(startedAt.getTime() + restoreMs).toISOString(),
    duration_ms: restoreMs,
    source_bytes: manifest.source_size_bytes,
    stored_bytes: manifest.size_bytes,
    compression_ratio: manifest.size_bytes > 0 ? manifest.source_size_bytes / manifest.size_bytes : null,
    compression: manifest.compression,
    backup_key: located.key,
    client_version: restored?.client ? { restore: restored.client } : {},
    tool_version: toolVersion(),
  });
  if ('error' in record) warnings.push(record.error);
  for (const warning of warnings) context.onWarning?.(warning);
  if (failure !== undefined || !restored) throw failure;
  return {
    result: 'succeeded',
    database: manifest.database,
    engine: manifest.engine,
    backupKey: located.key,
    backupFile: manifest.backup_file,
    backupLocation: restored.plan.backup.location,
    backupDatetime: manifest.datetime,
    backupAgeSeconds: Math.max(0, Math.round((startedAt.getTime() - Date.parse(manifest.datetime)) / 1000)),
    scratch: scratch.description,
    restoreMs,
    tables: restored.tables ?? 0,
    rows: restored.rows ?? 0,
    checks: restored.checks,
    warnings: [...restored.warnings, ...warnings],
    record,
  };
}
