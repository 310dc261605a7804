import { z } from 'zod';
import type { Settings } from '../settings.js';
import type { Deadline } from '../pipeline/run-stop.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { type DatabaseCredentials, databaseUrl } from './database-url.js';
import { type DeploymentConfig, findDatabase } from './deployment-config.js';
import { coreWording, DbBackupError, type OptionName, type Wording } from '../errors.js';
import { checkBackupSelector } from '../catalog/locate-backup.js';
import { type RestoreResult, runRestore } from '../restore/run-restore.js';

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
};

const isEventField = (name: OptionName): name is keyof typeof FIELD_PLACEHOLDERS => Object.hasOwn(FIELD_PLACEHOLDERS, name);

/**
 * The restore event's words for options: its fields, `"file": "<backup file name>"`,
 * `"confirm": "school"`. An option the event has no field for keeps the core's name.
 */
export const restoreEventWording: Wording = {
  option: (name) => (isEventField(name) ? `"${name}"` : coreWording.option(name)),
  setting: (name, value) =>
    isEventField(name)
      ? `"${name}": ${value === undefined ? FIELD_PLACEHOLDERS[name] : JSON.stringify(value)}`
      : coreWording.setting(name, value),
};

/** What a restore function gives each restore: its deployment, bucket and credentials. */
export interface FunctionRestoreDeps {
  readonly config: DeploymentConfig;
  readonly bucket: string;
  readonly credentials: (secretArn: string) => Promise<DatabaseCredentials>;
  readonly onPhase?: (phase: string) => void;
  /** @default defaultSettings() */
  readonly settings?: Settings;
  /** When the restore must have ended: the function's time limit less FUNCTION_TIME_MARGIN_MS. */
  readonly deadline?: Deadline;
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
  const selector = { target: `s3://${deps.bucket}`, database: db.name, latest: event.latest, file: event.file, path: event.path };
  // Checked before the database's secret is read for the default destination.
  checkBackupSelector(selector);
  return runRestore(
    {
      ...selector,
      to: event.to ?? (await databaseUrl(db, deps.credentials)),
      confirm: event.confirm,
      dryRun: event.dryRun,
      noSafetyBackup: event.noSafetyBackup,
    },
    { onPhase: deps.onPhase, settings: deps.settings, deadline: deps.deadline },
  );
}
