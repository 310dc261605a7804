import { deploymentEncryption } from './backup-prefixes.js';
import { backupEventLabels, scheduledBackupEventSchema } from './backup-event.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { databaseUrl } from './database-url.js';
import { type DatabaseConfig, findDatabase, tierSettings } from './deployment-config.js';
import { formatErrorLine } from '../errors.js';
import { deploymentWording } from './deployment-wording.js';
import type { ScheduledRunDeps } from './scheduled-run-deps.js';
import type { Manifest } from '../manifest.js';
import { type AlertOrigin, composeAlert } from '../notify/alert.js';
import { failedRunsBefore, lastGoodBackup, nextSteps } from './alert-facts.js';
import { sendAlert } from '../notify/notifier.js';
import { REPORTED_FAILURE_ERROR } from './unreported-failure.js';
import { runBackup } from '../backup/run-backup.js';
import type { Deadline } from '../pipeline/run-stop.js';

/**
 * What a backup function keeps of its time limit to end cleanly: the run stops this long before
 * Lambda would kill it, which leaves time to abort its upload and release the source (at most
 * CLEANUP_GRACE_MS), then to email the failure.
 */
export const FUNCTION_TIME_MARGIN_MS = 20_000;

/** What a scheduled backup needs from its runtime (Lambda or Fargate). */
export interface ScheduledBackupDeps extends ScheduledRunDeps {
  /** The stack, account and region every email names. */
  readonly origin?: AlertOrigin;
  /** Aborting cancels the backup (a Fargate task's SIGTERM); a string reason says why. */
  readonly signal?: AbortSignal;
  /**
   * When the run must have ended: a function's time limit less {@link FUNCTION_TIME_MARGIN_MS},
   * or a task's timeout. Given the database's config, for a deadline that depends on it.
   */
  readonly deadline?: (db: DatabaseConfig) => Deadline | undefined;
}

/**
 * A scheduled backup that failed; `alerted` says whether its failure email was sent. Once it was,
 * the error is named {@link REPORTED_FAILURE_ERROR}: Lambda reports the name as the `errorType`
 * the alert function reads, so the failure is not emailed a second time.
 */
export class ScheduledBackupFailure extends Error {
  readonly alerted: boolean;

  constructor(cause: unknown, alerted: boolean) {
    super(formatErrorLine(cause, deploymentWording), { cause });
    this.name = alerted ? REPORTED_FAILURE_ERROR : 'ScheduledBackupFailure';
    this.alerted = alerted;
  }
}

/**
 * Runs one scheduled backup: the database's tier settings (storage class), the bucket's
 * encryption, alerts by email (failure always, success when enabled). An alert that cannot be
 * sent is logged and never replaces the backup's own result or error. Every failure, a bad
 * event included, is thrown as a {@link ScheduledBackupFailure}.
 */
export async function runScheduledBackup(input: unknown, deps: ScheduledBackupDeps): Promise<Manifest> {
  const now = deps.now ?? (() => new Date());
  const alerts = deps.config.alerts;
  // What the event says, for the failure email even when the event itself is what is wrong.
  const event = backupEventLabels(input);
  try {
    const parsed = parseOrConfigError(scheduledBackupEventSchema, input);
    deps.log('backup started', { database: event.database, tier: event.tier, runId: deps.runId });
    const db = findDatabase(deps.config, parsed.database);
    const { storageClass } = tierSettings(db, parsed.tier);
    const manifest = await runBackup(
      {
        source: await databaseUrl(db, deps.credentials),
        target: `s3://${deps.bucket}`,
        name: db.name,
        compression: db.compression,
        lockWaitSeconds: db.engine === 'postgres' ? db.lockWaitSeconds : undefined,
        storageClass,
        ...deploymentEncryption(deps.kmsKeyId),
        kind: 'scheduled',
        label: parsed.tier,
      },
      {
        s3Client: deps.s3Client,
        settings: deps.settings,
        signal: deps.signal,
        deadline: deps.deadline?.(db),
        wording: deploymentWording,
        onWarning: (warning) => deps.log('backup warning', { database: db.name, tier: event.tier, warning }),
      },
    );
    deps.log('backup completed', {
      database: db.name,
      tier: event.tier,
      key: manifest.key,
      bytes: manifest.size_bytes,
      sha256: manifest.hash,
      durationMs: manifest.duration_ms,
    });
    // One email after failed runs says the database recovered, whether or not success emails are on.
    const failed = await failedRunsBefore(deps, {
      engine: db.engine,
      database: db.name,
      tier: event.tier,
      backupKey: manifest.key,
    });
    if (failed || alerts.onSuccess) {
      const common = {
        database: db.name,
        tier: event.tier,
        manifest,
        at: now(),
        runId: deps.runId,
        logUrl: deps.logUrl,
        origin: deps.origin,
      };
      const message = composeAlert(
        failed
          ? { ...common, kind: 'recovered', failedRuns: failed.count, failingSince: failed.since }
          : { ...common, kind: 'success' },
      );
      await sendAlert(deps.notifier, message, deps.log, deps.logAlertFailure);
    }
    return manifest;
  } catch (error) {
    const reason = formatErrorLine(error, deploymentWording);
    deps.log('backup failed', { database: event.database, tier: event.tier, error: reason });
    const message = composeAlert({
      kind: 'failure',
      database: event.database,
      tier: event.tier,
      error: reason,
      at: now(),
      runId: deps.runId,
      logUrl: deps.logUrl,
      origin: deps.origin,
      lastGood: await lastGoodBackup(deps, event.database, event.tier),
      nextSteps: nextSteps(
        { bucket: deps.bucket, stack: deps.origin?.stack, region: deps.origin?.region },
        event.database,
        event.tier,
      ),
    });
    throw new ScheduledBackupFailure(error, await sendAlert(deps.notifier, message, deps.log, deps.logAlertFailure));
  }
}
