import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { backupEventLabels } from '../shared/deployment/backup-event.js';
import { METRICS } from '../shared/deployment/deployment-names.js';
import { secretsManagerCredentials } from '../shared/deployment/fetch-credentials.js';
import type { Manifest } from '../shared/manifest.js';
import { runScheduledBackup, type ScheduledBackupDeps } from '../shared/deployment/run-scheduled-backup.js';
import { createS3Client } from '../shared/targets/s3-target.js';
import { bucket, kmsKeyId, logger, metrics, notifierFor, readConfig, reportAlertFailure, settings } from './runtime.js';

const credentials = secretsManagerCredentials();
const s3Client = createS3Client({ settings });

/**
 * Runs one scheduled backup with the logs and metrics every runner (Lambda or Fargate) emits:
 * duration, stored and source bytes, compression ratio, success or failure, by database and
 * tier. A failure is emailed, then thrown as runScheduledBackup's ScheduledBackupFailure, which
 * says whether the email went out.
 */
export async function measuredBackup(
  event: unknown,
  run: { runId: string; logUrl?: string } & Pick<ScheduledBackupDeps, 'signal' | 'deadline' | 'origin'>,
): Promise<Manifest> {
  const dimensions = backupEventLabels(event);
  logger.appendKeys(dimensions);
  metrics.addDimensions(dimensions);
  try {
    const config = await readConfig();
    const manifest = await runScheduledBackup(event, {
      config,
      bucket,
      kmsKeyId,
      s3Client,
      settings,
      credentials,
      notifier: notifierFor(config),
      runId: run.runId,
      logUrl: run.logUrl,
      origin: run.origin,
      signal: run.signal,
      deadline: run.deadline,
      log: (message, fields) => logger.info(message, fields),
      logAlertFailure: reportAlertFailure,
    });
    metrics.addMetric(METRICS.succeeded, MetricUnit.Count, 1);
    metrics.addMetric(METRICS.duration, MetricUnit.Milliseconds, manifest.duration_ms);
    metrics.addMetric(METRICS.storedBytes, MetricUnit.Bytes, manifest.size_bytes);
    metrics.addMetric(METRICS.sourceBytes, MetricUnit.Bytes, manifest.source_size_bytes);
    metrics.addMetric(
      METRICS.compressionRatio,
      MetricUnit.NoUnit,
      manifest.size_bytes > 0 ? manifest.source_size_bytes / manifest.size_bytes : 0,
    );
    return manifest;
  } catch (error) {
    metrics.addMetric(METRICS.failed, MetricUnit.Count, 1);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
    logger.resetKeys();
  }
}
