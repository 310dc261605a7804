import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Handler } from 'aws-lambda';
import type { BackupLabels } from '../shared/deployment/backup-event.js';
import { taskLogStream } from '../shared/deployment/backup-task.js';
import { lastGoodBackup, nextSteps } from '../shared/deployment/alert-facts.js';
import { ENVIRONMENT, functionLogGroupName, METRICS } from '../shared/deployment/deployment-names.js';
import { createS3Client } from '../shared/targets/s3-target.js';
import { composeAlert } from '../shared/notify/alert.js';
import { sendAlert } from '../shared/notify/notifier.js';
import { type UnreportedFailure, unreportedFailure } from '../shared/deployment/unreported-failure.js';
import {
  alertOrigin,
  bucket,
  logger,
  logSearchUrl,
  logStreamUrl,
  metrics,
  notifierFor,
  readConfig,
  reportAlertFailure,
  settings,
} from './runtime.js';

/** The log group of the backup tasks (Fargate runner), to link a crashed task's log. */
const taskLogGroup = process.env[ENVIRONMENT.taskLogGroup] || undefined;
/** Reads the last good backup for the email. */
const s3Client = createS3Client({ settings });

/**
 * Emails a backup that could not report its own failure: a function that timed out, crashed or
 * ran out of memory (it is the backup functions' on-failure destination), or a backup task that
 * was killed or never started (an EventBridge rule sends it every stopped backup task). Failures
 * the backup already emailed, and runs that succeeded, are only logged.
 */
export const handler: Handler<unknown, void> = async (event, context) => {
  logger.addContext(context);
  const failure = unreportedFailure(event);
  if (!failure) {
    logger.info('nothing to report: the run succeeded or already sent its alert');
    return;
  }
  logger.info('backup failed', { database: failure.database, tier: failure.tier, error: failure.error });
  // Counted here because the run itself never got to count it.
  metrics.addDimensions({ database: failure.database, tier: failure.tier } satisfies BackupLabels);
  metrics.addMetric(METRICS.failed, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
  const origin = alertOrigin(context.invokedFunctionArn);
  const message = composeAlert({
    kind: 'failure',
    database: failure.database,
    tier: failure.tier,
    error: failure.error,
    at: new Date(),
    runId: failure.runId,
    origin,
    logUrl: logUrlOf(failure),
    requestId: failure.functionArn ? failure.runId : undefined,
    lastGood: await lastGoodBackup({ bucket, s3Client, settings }, failure.database, failure.tier),
    nextSteps: nextSteps({ bucket, stack: origin.stack, region: origin.region }, failure.database, failure.tier),
  });
  await sendAlert(notifierFor(await readConfig()), message, (m, fields) => logger.info(m, fields), reportAlertFailure);
};

/**
 * Where the failed run logged: a task's own stream, or the lines of the backup function's log
 * group (named after the function, functionLogGroupName) that carry the invocation's request id.
 */
function logUrlOf(failure: UnreportedFailure): string | undefined {
  if (failure.taskId) return taskLogGroup ? logStreamUrl(taskLogGroup, taskLogStream(failure.taskId)) : undefined;
  const name = failure.functionArn?.split(':')[6];
  return name ? logSearchUrl(functionLogGroupName(name), failure.runId) : undefined;
}
