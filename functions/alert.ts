import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Handler } from 'aws-lambda';
import type { BackupLabels } from '../shared/deployment/backup-event.js';
import { taskLogStream } from '../shared/deployment/backup-task.js';
import { ENVIRONMENT, METRICS } from '../shared/deployment/deployment-names.js';
import { composeAlert } from '../shared/notify/alert.js';
import { sendAlert } from '../shared/notify/notifier.js';
import { unreportedFailure } from '../shared/deployment/unreported-failure.js';
import { logger, logStreamUrl, metrics, notifierFor, readConfig, reportAlertFailure } from './runtime.js';

/** The log group of the backup tasks (Fargate runner), to link a crashed task's log. */
const taskLogGroup = process.env[ENVIRONMENT.taskLogGroup] || undefined;

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
  const logGroup = failure.taskId ? taskLogGroup : undefined;
  const message = composeAlert({
    kind: 'failure',
    database: failure.database,
    tier: failure.tier,
    error: failure.error,
    at: new Date(),
    runId: failure.runId,
    logUrl: logGroup && failure.taskId ? logStreamUrl(logGroup, taskLogStream(failure.taskId)) : undefined,
  });
  await sendAlert(notifierFor(await readConfig()), message, (m, fields) => logger.info(m, fields), reportAlertFailure);
};
