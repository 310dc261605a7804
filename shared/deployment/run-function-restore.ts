import type { ReadProgress } from '../pipeline/read-progress.js';
import { z } from 'zod';
import type { Settings } from '../settings.js';
import type { Deadline } from '../pipeline/run-stop.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { type DatabaseCredentials, restoreDatabaseUrl } from './database-url.js';
import { type DeploymentConfig, findDatabase } from './deployment-config.js';
import { DbBackupError, type OptionName, type Wording } from '../errors.js';
import { deploymentWording } from './deployment-wording.js';
import { checkBackupSelector } from '../catalog/locate-backup.js';
import { type RestoreResult, runRestore } from '../restore/run-restore.js';
import { isSecretParameter } from '../engines/registry.js';
import { REDACTED, redactLocation } from '../redact.js';
import { MISSING_ROLES_CHOICES } from '../engines/destination.js';
import { deploymentEncryption, PRE_RESTORE_PREFIX } from './backup-prefixes.js';

/**
 * The restore function's event, pasted into the Lambda console's Test tab:
 * `{ "database": "school", "latest": true, "confirm": "school" }`, or `"file": "<name>"`, or
 * `"path": "s3://…"`, with an optional `"to"` (default: the configured database itself).
 */
export const functionRestoreEventSchema = z
  .object({
    database: z.string().min(1),
    latest: z.boolean().optional(),
    file: z.string().min(1).optional(),
    path: z
      .string()
      .regex(/^s3:\/\//, 'must be an s3:// URI')
      .optional(),
    to: z.string().min(1).optional(),
    confirm: z.string().optional(),
    dryRun: z.boolean().optional(),
    noSafetyBackup: z.boolean().optional(),
    /** With `path`: restore an object that has no manifest (nothing can be verified). */
    noManifest: z.boolean().optional(),
    /** PostgreSQL: keep the backup's object owners (they must exist on the server), as the CLI's --keep-owner. @default false */
    keepOwner: z.boolean().optional(),
    /** PostgreSQL: roles the backup's grants or policies name that the server lacks. @default "refuse" */
    missingRoles: z.enum(MISSING_ROLES_CHOICES).optional(),
    /**
     * Drop what the restore replaced (PostgreSQL: the replaced database, kept by default as the
     * undo) instead of keeping it; a warning then says which writes are in no copy. @default false
     */
    dropReplaced: z.boolean().optional(),
  })
  .strict();

type FunctionRestoreEvent = z.input<typeof functionRestoreEventSchema>;

/** A placeholder for the value of each event field a core message may name. */
const FIELD_PLACEHOLDERS: Record<OptionName & keyof FunctionRestoreEvent, string> = {
  database: '"<database name>"',
  latest: 'true',
  file: '"<backup file name>"',
  path: '"s3://…"',
  to: '"<database URL>"',
  confirm: '"<destination name>"',
  noManifest: 'true',
  missingRoles: '"refuse" | "create-nologin" | "skip-their-grants"',
  dropReplaced: 'true',
};

const isEventField = (name: OptionName): name is keyof typeof FIELD_PLACEHOLDERS => Object.hasOwn(FIELD_PLACEHOLDERS, name);

/**
 * The restore event's words for options: its fields, `"file": "<backup file name>"`,
 * `"confirm": "school"`. An option the event has no field for is named as the deployment setting that decides it.
 */
export const restoreEventWording: Wording = {
  option: (name) => (isEventField(name) ? `"${name}"` : deploymentWording.option(name)),
  setting: (name, value) =>
    isEventField(name)
      ? `"${name}": ${value === undefined ? FIELD_PLACEHOLDERS[name] : JSON.stringify(value)}`
      : deploymentWording.setting(name, value),
  howToList: deploymentWording.howToList,
};

/**
 * The event as the function logs it: each field's value with any location's secrets redacted
 * (`"to"` may hold a password), and the value of a field the event does not have hidden, since
 * it may be anything.
 */
export function loggableRestoreEvent(input: unknown): unknown {
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const { shape } = functionRestoreEventSchema;
    return Object.fromEntries(
      Object.entries(input).map(([field, value]) => [field, Object.hasOwn(shape, field) ? loggable(value) : REDACTED]),
    );
  }
  return loggable(input);
}

function loggable(value: unknown): unknown {
  if (typeof value === 'string') return redactLocation(value, isSecretParameter);
  return value === null || typeof value !== 'object' ? value : REDACTED;
}

/** What a restore function gives each restore: its deployment, bucket and credentials. */
export interface FunctionRestoreDeps {
  readonly config: DeploymentConfig;
  readonly bucket: string;
  readonly credentials: (secretArn: string) => Promise<DatabaseCredentials>;
  readonly onPhase?: (phase: string) => void;
  /** Told the progress of the restore's one read (a few times a second: throttle before logging). */
  readonly onProgress?: (progress: ReadProgress) => void;
  /** @default defaultSettings() */
  readonly settings?: Settings;
  /** When the restore must have ended: the function's time limit less FUNCTION_TIME_MARGIN_MS. */
  readonly deadline?: Deadline;
  /** The bucket's KMS key, when it has one: its policy then refuses a write that asks for other encryption. */
  readonly kmsKeyId?: string;
}

/**
 * Restores as the CLI does, with the deployment's bucket and the database's own credentials.
 * Its errors name the event's fields, not the CLI's flags.
 */
export async function runFunctionRestore(input: unknown, deps: FunctionRestoreDeps): Promise<RestoreResult> {
  try {
    return await restoreEvent(input, deps);
  } catch (error) {
    throw error instanceof DbBackupError ? error.reword(restoreEventWording) : error;
  }
}

async function restoreEvent(input: unknown, deps: FunctionRestoreDeps): Promise<RestoreResult> {
  const event = parseOrConfigError(functionRestoreEventSchema, input);
  const db = findDatabase(deps.config, event.database);
  // The event's database picks the deployment's database (its credentials, the default destination); it
  // limits the backups to its own only when choosing among them, as a path may name any backup.
  const selector = {
    target: `s3://${deps.bucket}`,
    database: event.path === undefined ? db.name : undefined,
    latest: event.latest,
    file: event.file,
    path: event.path,
    noManifest: event.noManifest,
  };
  // Checked before the database's secret is read for the default destination.
  checkBackupSelector(selector);
  return runRestore(
    {
      ...selector,
      to: event.to ?? (await restoreDatabaseUrl(db, deps.credentials)),
      confirm: event.confirm,
      dryRun: event.dryRun,
      noSafetyBackup: event.noSafetyBackup,
      // The one prefix the bucket lets a restore function write: its safety copies never sit among
      // (or could overwrite) the backups themselves.
      safetyTarget: `s3://${deps.bucket}/${PRE_RESTORE_PREFIX}`,
      // Asked for as the backups are: the bucket's rule refuses any other.
      safetyEncryption: deploymentEncryption(deps.kmsKeyId),
      missingRoles: event.missingRoles,
      dropReplaced: event.dropReplaced,
      keepOwner: event.keepOwner,
    },
    { onPhase: deps.onPhase, onProgress: deps.onProgress, settings: deps.settings, deadline: deps.deadline },
  );
}
