import type { Handler } from 'aws-lambda';
import type { Manifest } from '../shared/manifest.js';
import { measuredBackup } from './measured-backup.js';
import { logger, logStreamUrl } from './runtime.js';

/**
 * Backs up one database: `{ "database": "school", "tier": "daily" }`, from a schedule or by hand.
 * Returns the manifest; a failure is emailed, then rethrown so the invocation counts as failed.
 */
export const handler: Handler<unknown, Manifest> = async (event, context) => {
  logger.addContext(context);
  return measuredBackup(event, {
    runId: context.awsRequestId,
    logUrl: logStreamUrl(context.logGroupName, context.logStreamName),
  });
};
