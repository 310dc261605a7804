import { z } from 'zod';
import { type DrillResult, runDrill } from '../drill/run-drill.js';
import { ConfigError, formatErrorLine } from '../errors.js';
import { composeAlert } from '../notify/alert.js';
import { sendAlert } from '../notify/notifier.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import type { Deadline } from '../pipeline/run-stop.js';
import { deploymentEncryption } from './backup-prefixes.js';
import { type DatabaseCredentials, tlsParameters } from './database-url.js';
import { drillSettings, findDatabase, type PostgresDatabaseConfig } from './deployment-config.js';
import { deploymentWording } from './deployment-wording.js';
import type { ScheduledRunDeps } from './scheduled-run-deps.js';

/** The event a drill schedule (or a person, from the console) sends the drill function: `{ "database": … }`. */
export const drillEventSchema = z.object({ database: z.string().min(1) }).strict();

/** What a scheduled drill needs from its runtime. */
export interface ScheduledDrillDeps extends ScheduledRunDeps {
  /** When the drill must have ended: the function's time limit less its margin. */
  readonly deadline?: Deadline;
}

/**
 * Runs one database's restore drill as configured (`drill` in its config): its newest backup in
 * the bucket restored into a new database on its scratch server (SQLite: a file in the function's
 * temp storage), checked, removed, and recorded beside the backups. A failure, a bad event
 * included, is emailed, then thrown worded for the deployment; an email that cannot be sent is
 * logged and never replaces the drill's own result.
 */
export async function runScheduledDrill(input: unknown, deps: ScheduledDrillDeps): Promise<DrillResult> {
  const now = deps.now ?? (() => new Date());
  const database = typeof input === 'object' && input !== null ? String((input as { database?: unknown }).database ?? '') : '';
  try {
    const { database: name } = parseOrConfigError(drillEventSchema, input);
    const db = findDatabase(deps.config, name);
    if (!drillSettings(db).enabled) {
      throw new ConfigError(`database ${db.name} has no restore drill configured`, {
        hint:
          db.engine === 'postgres'
            ? 'add "drill": { "scratch": { "host", "secretArn" } } (a server the drill may create databases on) to it in dbbackup.config.json and deploy'
            : 'add "drill": { "enabled": true } to it in dbbackup.config.json and deploy',
      });
    }
    deps.log('drill started', { database: db.name, runId: deps.runId });
    const into =
      db.engine === 'postgres' && db.drill?.scratch ? await scratchServerUrl(db.drill.scratch, deps.credentials) : undefined;
    const result = await runDrill(
      { target: `s3://${deps.bucket}`, database: db.name, into, recordEncryption: deploymentEncryption(deps.kmsKeyId) },
      {
        settings: deps.settings,
        s3Client: deps.s3Client,
        deadline: deps.deadline,
        now,
        wording: deploymentWording,
        onWarning: (warning) => deps.log('drill warning', { database: db.name, warning }),
      },
    );
    deps.log('drill passed', {
      database: db.name,
      backup: result.backupKey,
      restoreMs: result.restoreMs,
      tables: result.tables,
      rows: result.rows,
    });
    return result;
  } catch (error) {
    const reason = formatErrorLine(error, deploymentWording);
    deps.log('drill failed', { database, error: reason });
    const message = composeAlert({
      kind: 'drill-failure',
      database: database || 'unknown database',
      error: reason,
      at: now(),
      runId: deps.runId,
      logUrl: deps.logUrl,
    });
    await sendAlert(deps.notifier, message, deps.log, deps.logAlertFailure);
    throw new Error(reason, { cause: error });
  }
}

/** `postgres://user:password@host:port?sslmode=…`: the scratch server, without a database; the password only in memory. */
async function scratchServerUrl(
  scratch: NonNullable<NonNullable<PostgresDatabaseConfig['drill']>['scratch']>,
  credentials: (secretArn: string) => Promise<DatabaseCredentials>,
): Promise<string> {
  const secret = await credentials(scratch.secretArn);
  if (!secret.username || !secret.password) {
    throw new ConfigError(`the scratch server's secret has no username or password`, {
      hint: 'store {"username": "...", "password": "..."} of a login with CREATEDB on the scratch server in it',
    });
  }
  const tls = new URLSearchParams(tlsParameters(scratch));
  return `postgres://${encodeURIComponent(secret.username)}:${encodeURIComponent(secret.password)}@${scratch.host}:${scratch.port}?${tls}`;
}
