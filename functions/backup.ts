import type { Handler } from 'aws-lambda';
import type { Manifest } from '../shared/manifest.js';
import { measuredBackup } from './measured-backup.js';
import { alertOrigin, functionDeadline, logger, logStreamUrl } from './runtime.js';

/**
 * Backs up one database: `{ "database": "school", "tier": "daily" }`, from a schedule or by hand.
 * Returns the manifest; a failure is emailed, then rethrown so the invocation counts as failed.
 * The backup stops on its own before Lambda's time limit, with time left to clean up and email.
 */
export const handler: Handler<unknown, Manifest> = async (event, context) => {
  logger.addContext(context);
  // Taken at the start: the backup's deadline is the invocation's, whatever the database.
  const deadline = functionDeadline(context);
  return measuredBackup(event, {
    runId: context.awsRequestId,
    logUrl: logStreamUrl(context.logGroupName, context.logStreamName),
    origin: alertOrigin(context.invokedFunctionArn),
    deadline: () => deadline,
  });
};
