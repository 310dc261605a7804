import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Handler } from 'aws-lambda';
import type { DrillResult } from '../shared/drill/run-drill.js';
import { DRILL_METRICS } from '../shared/deployment/deployment-names.js';
import { secretsManagerCredentials } from '../shared/deployment/fetch-credentials.js';
import { runScheduledDrill } from '../shared/deployment/run-scheduled-drill.js';
import { createS3Client } from '../shared/targets/s3-target.js';
import {
  bucket,
  functionDeadline,
  kmsKeyId,
  logger,
  logStreamUrl,
  metrics,
  notifierFor,
  readConfig,
  reportAlertFailure,
  settings,
} from './runtime.js';

const credentials = secretsManagerCredentials();
const s3Client = createS3Client({ settings });

/**
 * Drills one database's newest backup, from its monthly schedule or by hand: `{ "database": "school" }`.
 * Publishes DrillSucceeded (1 passed, 0 failed) by database; a failure is emailed, then rethrown so
 * the invocation counts as failed.
 */
export const handler: Handler<unknown, DrillResult> = async (event, context) => {
  logger.addContext(context);
  const database = String((event as { database?: unknown } | null)?.database ?? 'unknown database');
  logger.appendKeys({ database });
  metrics.addDimensions({ database });
  try {
    const config = await readConfig();
    const result = await runScheduledDrill(event, {
      config,
      bucket,
      kmsKeyId,
      s3Client,
      settings,
      credentials,
      notifier: notifierFor(config),
      runId: context.awsRequestId,
      logUrl: logStreamUrl(context.logGroupName, context.logStreamName),
      log: (message, fields) => logger.info(message, fields),
      logAlertFailure: reportAlertFailure,
      deadline: functionDeadline(context),
    });
    metrics.addMetric(DRILL_METRICS.succeeded, MetricUnit.Count, 1);
    metrics.addMetric(DRILL_METRICS.duration, MetricUnit.Milliseconds, result.restoreMs);
    return result;
  } catch (error) {
    metrics.addMetric(DRILL_METRICS.succeeded, MetricUnit.Count, 0);
    throw error;
  } finally {
    metrics.publishStoredMetrics();
    logger.resetKeys();
  }
};
