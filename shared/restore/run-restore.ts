import { ConfigError } from '../errors.js';
import { fetchBackup } from '../catalog/fetch-backup.js';
import { type BackupSelector, type LocatedBackup, locateBackup } from '../catalog/locate-backup.js';
import type { Manifest } from '../manifest.js';
import type { DestinationState, MissingRolesChoice, ReplacedContent, RestoreCheck } from '../engines/destination.js';
import { formatOf, inferFromName, openDestination } from '../engines/registry.js';
import { runBackup } from '../backup/run-backup.js';
import type { Sse } from '../targets/target.js';
import { LABEL_MAX_LENGTH } from '../backup/backup-options.js';
import type { ChecksumMode } from '../targets/s3-target.js';
import { defaultSettings, type Settings } from '../settings.js';
import { type Deadline, RunStop, settleWithin } from '../pipeline/run-stop.js';
import type { ReadProgress } from '../pipeline/read-progress.js';
import { readWholeBackup } from '../engines/read-backup.js';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What to restore, where, and how carefully. */
export interface RestoreRequest extends BackupSelector {
  /** The destination database URL. */
  readonly to: string;
  /** Must equal the destination's name (database name, or SQLite file name) to proceed. */
  readonly confirm?: string;
  readonly dryRun?: boolean;
  /** Skip the pre-restore backup of a destination that holds data. */
  readonly noSafetyBackup?: boolean;
  /** Where the pre-restore backup goes. @default the target the backup came from */
  readonly safetyTarget?: string;
  /**
   * S3 only: the encryption the pre-restore backup asks for, as a backup's `sse`/`kmsKeyId`; a
   * bucket whose policy requires one refuses any other. @default none asked: the bucket's default
   */
  readonly safetyEncryption?: { readonly sse: Sse; readonly kmsKeyId?: string };
  /** PostgreSQL: keep the archive's object owners. @default false */
  readonly keepOwner?: boolean;
  /**
   * PostgreSQL: what to do when the backup's grants, default privileges or policies name roles this
   * server lacks. @default 'refuse': stop before anything changes, naming them
   */
  readonly missingRoles?: MissingRolesChoice;
  /**
   * Do not keep what the restore replaced (PostgreSQL: the replaced database; SQLite: the copy
   * kept when the application wrote after the safety backup): a warning then says which writes
   * are in no copy. @default false: it is kept, named in the result
   */
  readonly dropReplaced?: boolean;
  readonly s3Checksums?: ChecksumMode;
}

/** What a restore will do, shown before it asks for confirmation. */
export interface RestorePlan {
  readonly backup: {
    readonly location: string;
    readonly datetime?: string;
    readonly ageSeconds?: number;
    readonly sizeBytes: number;
    readonly verified: boolean;
  };
  readonly destination: {
    readonly name: string;
    readonly description: string;
    readonly kind: string;
    readonly noun: string;
  } & DestinationState;
}

/** The result of a restore (or of a dry run). */
export interface RestoreResult {
  readonly plan: RestorePlan;
  readonly dryRun: boolean;
  readonly restored: boolean;
  readonly safetyBackup?: string;
  /** What the restore replaced, kept as the undo: it holds every write made until the swap. */
  readonly replaced?: ReplacedContent;
  readonly tables?: number;
  readonly rows?: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly checks: readonly RestoreCheck[];
  readonly warnings: readonly string[];
  /** The client program that restored, when the engine uses one (PostgreSQL's pg_restore or psql, with version and path). */
  readonly client?: string;
}

/** Hooks a front end gives a restore. */
export interface RestoreContext {
  /** Asked when `confirm` is absent (a TTY prompt); returns what the user typed. Absent: no confirmation possible. */
  readonly ask?: (plan: RestorePlan) => Promise<string>;
  /** Told the plan before confirmation, so the user sees what will be replaced. */
  readonly onPlan?: (plan: RestorePlan) => void;
  readonly onPhase?: (phase: string) => void;
  /** Told the progress of the one pass that downloads, checks and restores the backup. */
  readonly onProgress?: (progress: ReadProgress) => void;
  /** What the edge read from its environment. @default defaultSettings() */
  readonly settings?: Settings;
  readonly now?: () => Date;
  /**
   * Aborting stops the restore in any phase, all or nothing as ever: the download and its temp
   * file, a safety backup in progress, pg_restore and its half-made database are undone, and it
   * fails with a CancelledError. A string reason says why (`SIGINT`).
   */
  readonly signal?: AbortSignal;
  /** When the restore must have ended: past it, it stops as if cancelled, and says it ran out of time. */
  readonly deadline?: Deadline;
}

/**
 * Restores a backup: locates it, downloads and checks it against its manifest before anything
 * touches the destination, shows what will be replaced and requires the destination's name as
 * confirmation, backs up a destination that holds data (pre-restore), then restores all or
 * nothing and verifies the result.
 */
export async function runRestore(request: RestoreRequest, context: RestoreContext = {}): Promise<RestoreResult> {
  const stop = new RunStop('restore', {
    signal: context.signal,
    deadline: context.deadline,
    hint: 'the destination was not changed',
  });
  try {
    return await restoreOnce(request, context, stop);
  } finally {
    stop.dispose();
  }
}

async function restoreOnce(request: RestoreRequest, context: RestoreContext, stop: RunStop): Promise<RestoreResult> {
  const started = Date.now();
  const settings = context.settings ?? defaultSettings();
  const destination = await openDestination(request.to, settings);
  stop.phase = 'finding the backup';
  const located = await stop.guard(
    locateBackup({ ...request, engine: destination.kind }, { checksums: request.s3Checksums, settings }),
  );
  // Without a manifest the file name tells the format, and so the engine.
  const backupEngine = located.manifest?.engine ?? formatOf(inferFromName(located.fileName).format).engine.kind;
  if (backupEngine !== destination.kind) {
    throw new ConfigError(
      (w) => `${located.fileName} is a ${backupEngine} backup; ${w.option('to')} is a ${destination.kind} database`,
    );
  }
  stop.phase = 'checking the backup';
  const fetching = fetchBackup(located, settings, { signal: stop.signal, onProgress: context.onProgress });
  const fetched = await stop.guard(fetching).catch(async (error: unknown) => {
    // A download that ends after the stop still has its temp file to remove.
    await settleWithin(fetching.then((f) => f.cleanup()));
    throw error;
  });
  // From before the inspection: writes to a destination shown as empty are noticed too.
  const watch = destination.watchWrites?.();
  try {
    stop.phase = 'looking at the destination';
    const state = await stop.guard(destination.inspect(stop.signal));
    const restoreOptions = {
      keepOwner: request.keepOwner,
      missingRoles: request.missingRoles,
      settings,
      onPhase: context.onPhase,
      signal: stop.signal,
    };
    // Before the plan, the prompt and the safety backup: a restore that would be refused writes nothing anywhere.
    await stop.guard(destination.preflight?.(fetched, located.manifest, restoreOptions) ?? Promise.resolve());
    const plan = planOf(located, fetched.storedBytes, fetched.verified, destination, state, context.now?.() ?? new Date());
    const base = {
      plan,
      checks: [] as RestoreCheck[],
      warnings: [
        ...(fetched.verified ? [] : ['the backup has no manifest: its integrity could not be verified']),
        ...(located.unreadable ?? []).map(
          (p) =>
            `the manifest ${located.target.locate(p.key)} ${p.futureDated ? 'cannot be believed' : 'is unreadable'} (${p.error})`,
        ),
      ],
    };
    if (request.dryRun) {
      // A dry run reads the whole backup, as a restore would, to say whether it checks out.
      context.onPhase?.('downloading and checking the backup');
      stop.phase = 'downloading the backup';
      await stop.guard(
        readWholeBackup(fetched, stop.signal, (archive) => pipeline(archive, new Writable({ write: (_c, _e, cb) => cb() }))),
      );
      context.onPlan?.(plan);
      return { ...base, bytes: fetched.archiveBytes, dryRun: true, restored: false, durationMs: Date.now() - started };
    }
    // The plan is shown when the user is asked, or once a restore with a given confirmation is done.
    if (request.confirm === undefined && context.ask) context.onPlan?.(plan);
    stop.phase = 'waiting for confirmation';
    const typed = request.confirm ?? (context.ask ? await stop.guard(context.ask(plan)) : undefined);
    if (typed === undefined) {
      throw new ConfigError(`restore would replace ${describe(plan)}; refusing without confirmation`, {
        hint: (w) => `confirm with the destination's name: ${w.setting('confirm', destination.name)}`,
      });
    }
    if (typed !== destination.name) {
      throw new ConfigError(`confirmation "${typed}" does not match the destination "${destination.name}"; nothing was changed`, {
        hint: (w) => `give exactly the destination's name: ${w.setting('confirm', destination.name)}`,
      });
    }

    let safetyBackup: string | undefined;
    let safetyBackupAt: string | undefined;
    if (state.hasData && !request.noSafetyBackup) {
      // Writes from here on may be missing from the safety backup: the restore keeps them, or says so.
      watch?.mark();
      context.onPhase?.('backing up the destination first (pre-restore)');
      stop.phase = 'backing up the destination first';
      const safetyTarget = request.safetyTarget ?? request.target ?? located.target.url;
      const manifest = await runBackup(
        {
          source: destination.sourceUrl,
          target: safetyTarget,
          kind: 'pre-restore',
          label: labelWithin(`before restoring ${located.fileName}`, LABEL_MAX_LENGTH),
          s3Checksums: request.s3Checksums,
          sse: request.safetyEncryption?.sse,
          kmsKeyId: request.safetyEncryption?.kmsKeyId,
        },
        { settings, signal: stop.signal },
      );
      safetyBackup = manifest.location;
      safetyBackupAt = manifest.datetime;
    }

    stop.phase = 'restoring';
    const outcome = await destination.restore(fetched, located.manifest, {
      ...restoreOptions,
      undoCopy: safetyBackup,
      undoCopyTakenAt: safetyBackupAt,
      // Declining the safety backup of a destination with data declines every copy of it, as it always did.
      replacedContent: request.dropReplaced ? 'drop' : request.noSafetyBackup && state.hasData ? 'discard' : 'keep',
      writesSince: watch,
    });
    // Given the confirmation, nobody is asked: the plan is the record of what was replaced, and a
    // restore refused on the way (a corrupt backup is found only as it is read) stays one line.
    if (request.confirm !== undefined) context.onPlan?.(plan);
    return {
      ...base,
      dryRun: false,
      restored: true,
      bytes: fetched.archiveBytes,
      safetyBackup,
      replaced: outcome.replaced,
      tables: outcome.tables,
      rows: outcome.rows,
      checks: outcome.checks,
      warnings: [...base.warnings, ...outcome.warnings],
      client: outcome.client,
      durationMs: Date.now() - started,
    };
  } finally {
    watch?.close();
    await settleWithin(fetched.cleanup());
  }
}

function planOf(
  located: LocatedBackup,
  sizeBytes: number,
  verified: boolean,
  destination: { name: string; description: string; kind: string; noun: string },
  state: DestinationState,
  now: Date,
): RestorePlan {
  const manifest: Manifest | undefined = located.manifest;
  return {
    backup: {
      location: located.target.locate(located.key),
      datetime: manifest?.datetime,
      ageSeconds: manifest ? Math.max(0, Math.round((now.getTime() - Date.parse(manifest.datetime)) / 1000)) : undefined,
      sizeBytes,
      verified,
    },
    destination: {
      name: destination.name,
      description: destination.description,
      kind: destination.kind,
      noun: destination.noun,
      ...state,
    },
  };
}

/**
 * `text` cut to at most `max` UTF-16 units, whole characters only, marked with an ellipsis: a file
 * name may be longer than a label can be (an S3 key is up to 1024 bytes), and the safety backup
 * must not fail for it.
 */
export function labelWithin(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = '';
  for (const char of text) {
    if (cut.length + char.length > max - 1) break;
    cut += char;
  }
  return `${cut}…`;
}

/** `database "school" at postgres://app@db:5432/school (12 MB, 8 tables)` */
export function describe(plan: RestorePlan): string {
  const d = plan.destination;
  const what = `${d.noun} "${d.name}" at ${d.description}`;
  if (!d.exists) return `${what} (it does not exist yet)`;
  return `${what} (${d.sizeBytes ?? 0} bytes, ${d.tables} tables)`;
}
