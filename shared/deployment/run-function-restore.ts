import { z } from 'zod';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { type DatabaseCredentials, databaseUrl } from './database-url.js';
import { type DeploymentConfig, findDatabase } from './deployment-config.js';
import { ConfigError } from '../errors.js';
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

/** Restores as the CLI does, with the deployment's bucket and the database's own credentials. */
export async function runFunctionRestore(
  input: unknown,
  deps: {
    config: DeploymentConfig;
    bucket: string;
    credentials: (secretArn: string) => Promise<DatabaseCredentials>;
    onPhase?: (phase: string) => void;
  },
): Promise<RestoreResult> {
  const event = parseOrConfigError(functionRestoreEventSchema, input);
  const db = findDatabase(deps.config, event.database);
  // locateBackup enforces the same rule, in the CLI's words; the event's fields are named here.
  if ([event.latest, event.file, event.path].filter(Boolean).length !== 1) {
    throw new ConfigError('choose exactly one of "latest": true, "file": "<backup file name>" and "path": "s3://…"');
  }
  return runRestore(
    {
      target: `s3://${deps.bucket}`,
      database: db.name,
      latest: event.latest,
      file: event.file,
      path: event.path,
      to: event.to ?? (await databaseUrl(db, deps.credentials)),
      confirm: event.confirm,
      dryRun: event.dryRun,
      noSafetyBackup: event.noSafetyBackup,
    },
    { onPhase: deps.onPhase },
  );
}
