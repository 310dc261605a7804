import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { formatErrorLine } from '../shared/errors.js';
import { secretsManagerCredentials } from '../shared/fetch-credentials.js';
import type { Manifest } from '../shared/manifest.js';
import { runScheduledBackup } from '../shared/run-scheduled-backup.js';
import { bucket, config, kmsKeyId, type LambdaContext, logger, logStreamUrl, metrics, notifier } from './lambda-runtime.js';

const credentials = secretsManagerCredentials();

/**
 * Backs up one database: `{ "database": "school", "tier": "daily" }`, from a schedule or by hand.
 * Returns the manifest; a failure is emailed, then rethrown so the invocation counts as failed.
 */
export async function handler(event: { database?: unknown; tier?: unknown }, context: LambdaContext): Promise<Manifest> {
  logger.addContext(context as never);
  logger.appendKeys({ database: String(event?.database), tier: String(event?.tier ?? 'daily') });
  metrics.addDimensions({ database: String(event?.database), tier: String(event?.tier ?? 'daily') });
  try {
    const manifest = await runScheduledBackup(event, {
      config,
      bucket,
      kmsKeyId,
      credentials,
      notifier,
      runId: context.awsRequestId,
      logUrl: logStreamUrl(context),
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
    throw new Error(formatErrorLine(error));
  } finally {
    metrics.publishStoredMetrics();
    logger.resetKeys();
  }
}
