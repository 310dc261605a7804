import { ConfigError } from '../errors.js';
import { fetchBackup } from '../catalog/fetch-backup.js';
import { type BackupSelector, type LocatedBackup, locateBackup } from '../catalog/locate-backup.js';
import type { Manifest } from '../manifest.js';
import type { DestinationState, RestoreCheck } from '../engines/destination.js';
import { formatOf, inferFromName, openDestination } from '../engines/registry.js';
import { runBackup } from '../backup/run-backup.js';
import type { ChecksumMode } from '../targets/s3-target.js';
import { defaultSettings, type Settings } from '../settings.js';

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
  /** PostgreSQL: keep the archive's object owners. @default false */
  readonly keepOwner?: boolean;
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
  readonly tables?: number;
  readonly rows?: number;
  readonly bytes: number;
  readonly durationMs: number;
  readonly checks: readonly RestoreCheck[];
  readonly warnings: readonly string[];
}

/** Hooks a front end gives a restore. */
export interface RestoreContext {
  /** Asked when `confirm` is absent (a TTY prompt); returns what the user typed. Absent: no confirmation possible. */
  readonly ask?: (plan: RestorePlan) => Promise<string>;
  /** Told the plan before confirmation, so the user sees what will be replaced. */
  readonly onPlan?: (plan: RestorePlan) => void;
  readonly onPhase?: (phase: string) => void;
  /** What the edge read from its environment. @default defaultSettings() */
  readonly settings?: Settings;
  readonly now?: () => Date;
}

/**
 * Restores a backup: locates it, downloads and checks it against its manifest before anything
 * touches the destination, shows what will be replaced and requires the destination's name as
 * confirmation, backs up a destination that holds data (pre-restore), then restores all or
 * nothing and verifies the result.
 */
export async function runRestore(request: RestoreRequest, context: RestoreContext = {}): Promise<RestoreResult> {
  const started = Date.now();
  const settings = context.settings ?? defaultSettings();
  const destination = await openDestination(request.to, settings);
  const located = await locateBackup(request, { checksums: request.s3Checksums, settings });
  // Without a manifest the file name tells the format, and so the engine.
  const backupEngine = located.manifest?.engine ?? formatOf(inferFromName(located.fileName).format).engine.kind;
  if (backupEngine !== destination.kind) {
    throw new ConfigError(
      (w) => `${located.fileName} is a ${backupEngine} backup; ${w.option('to')} is a ${destination.kind} database`,
    );
  }
  context.onPhase?.('downloading and checking the backup');
  const fetched = await fetchBackup(located, settings);
  try {
    const state = await destination.inspect();
    const plan = planOf(located, fetched.storedBytes, fetched.verified, destination, state, context.now?.() ?? new Date());
    const base = {
      plan,
      bytes: fetched.archiveBytes,
      checks: [] as RestoreCheck[],
      warnings: fetched.verified ? [] : ['the backup has no manifest: its integrity could not be verified'],
    };
    if (request.dryRun) {
      context.onPlan?.(plan);
      return { ...base, dryRun: true, restored: false, durationMs: Date.now() - started };
    }
    // The plan is shown when the user is asked, or once a given confirmation matches: a refusal stays one line.
    if (request.confirm === undefined && context.ask) context.onPlan?.(plan);
    const typed = request.confirm ?? (context.ask ? await context.ask(plan) : undefined);
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
    if (request.confirm !== undefined) context.onPlan?.(plan);

    let safetyBackup: string | undefined;
    if (state.hasData && !request.noSafetyBackup) {
      context.onPhase?.('backing up the destination first (pre-restore)');
      const safetyTarget = request.safetyTarget ?? request.target ?? located.target.url;
      const manifest = await runBackup(
        {
          source: destination.sourceUrl,
          target: safetyTarget,
          kind: 'pre-restore',
          label: `before restoring ${located.fileName}`,
          s3Checksums: request.s3Checksums,
        },
        { settings },
      );
      safetyBackup = manifest.location;
    }

    const outcome = await destination.restore(fetched, located.manifest, {
      keepOwner: request.keepOwner,
      settings,
      onPhase: context.onPhase,
      undoCopy: safetyBackup,
    });
    return {
      ...base,
      dryRun: false,
      restored: true,
      safetyBackup,
      tables: outcome.tables,
      rows: outcome.rows,
      checks: outcome.checks,
      warnings: [...base.warnings, ...outcome.warnings],
      durationMs: Date.now() - started,
    };
  } finally {
    await fetched.cleanup();
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

/** `database "school" at postgres://app@db:5432/school (12 MB, 8 tables)` */
export function describe(plan: RestorePlan): string {
  const d = plan.destination;
  const what = `${d.noun} "${d.name}" at ${d.description}`;
  if (!d.exists) return `${what} (it does not exist yet)`;
  return `${what} (${d.sizeBytes ?? 0} bytes, ${d.tables} tables)`;
}
