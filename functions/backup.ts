import type { Handler } from 'aws-lambda';
import type { Manifest } from '../shared/manifest.js';
import { FUNCTION_TIME_MARGIN_MS } from '../shared/deployment/run-scheduled-backup.js';
import { measuredBackup } from './measured-backup.js';
import { alertOrigin, logger, logStreamUrl } from './runtime.js';

/**
 * Backs up one database: `{ "database": "school", "tier": "daily" }`, from a schedule or by hand.
 * Returns the manifest; a failure is emailed, then rethrown so the invocation counts as failed.
 * The backup stops on its own before Lambda's time limit, with time left to clean up and email.
 */
export const handler: Handler<unknown, Manifest> = async (event, context) => {
  logger.addContext(context);
  const at = Date.now() + context.getRemainingTimeInMillis() - FUNCTION_TIME_MARGIN_MS;
  return measuredBackup(event, {
    runId: context.awsRequestId,
    logUrl: logStreamUrl(context.logGroupName, context.logStreamName),
    origin: alertOrigin(context.invokedFunctionArn),
    deadline: () => ({
      at,
      setBy: `the function's time limit, less ${FUNCTION_TIME_MARGIN_MS / 1000} s kept to clean up and report`,
    }),
  });
};
