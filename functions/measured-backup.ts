import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { formatErrorLine } from '../shared/errors.js';
import { secretsManagerCredentials } from '../shared/fetch-credentials.js';
import type { Manifest } from '../shared/manifest.js';
import { REPORTED_FAILURE_ERROR } from '../shared/notify/unreported-failure.js';
import { runScheduledBackup, ScheduledBackupFailure } from '../shared/run-scheduled-backup.js';
import { bucket, config, kmsKeyId, logger, metrics, notifier } from './runtime.js';

const credentials = secretsManagerCredentials();

/** A backup failure that has been emailed already; whoever sees it next must not email it again. */
export class ReportedBackupFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = REPORTED_FAILURE_ERROR;
  }
}

/**
 * Runs one scheduled backup with the logs and metrics every runner (Lambda or Fargate) emits:
 * duration, stored and source bytes, compression ratio, success or failure, by database and
 * tier. A failure is emailed, then rethrown: as a {@link ReportedBackupFailure} when the email
 * went out, otherwise as it is, so the alert function (on-failure destination) tries again.
 */
export async function measuredBackup(
  event: { database?: unknown; tier?: unknown } | undefined,
  run: { runId: string; logUrl?: string },
): Promise<Manifest> {
  const dimensions = { database: String(event?.database), tier: String(event?.tier ?? 'daily') };
  logger.appendKeys(dimensions);
  metrics.addDimensions(dimensions);
  try {
    const manifest = await runScheduledBackup(event, {
      config,
      bucket,
      kmsKeyId,
      credentials,
      notifier,
      runId: run.runId,
      logUrl: run.logUrl,
      log: (message, fields) => logger.info(message, fields),
    });
    metrics.addMetric('BackupSucceeded', MetricUnit.Count, 1);
    metrics.addMetric('BackupDuration', MetricUnit.Milliseconds, manifest.duration_ms);
    metrics.addMetric('StoredBytes', MetricUnit.Bytes, manifest.size_bytes);
    metrics.addMetric('SourceBytes', MetricUnit.Bytes, manifest.source_size_bytes);
    metrics.addMetric(
      'CompressionRatio',
      MetricUnit.NoUnit,
      manifest.size_bytes > 0 ? manifest.source_size_bytes / manifest.size_bytes : 0,
    );
    return manifest;
  } catch (error) {
    metrics.addMetric('BackupFailed', MetricUnit.Count, 1);
    if (error instanceof ScheduledBackupFailure && error.alerted) throw new ReportedBackupFailure(error.message);
    throw new Error(formatErrorLine(error));
  } finally {
    metrics.publishStoredMetrics();
    logger.resetKeys();
  }
}
