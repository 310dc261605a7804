import type { Manifest } from '../shared/manifest.js';
import { measuredBackup } from './measured-backup.js';
import { type LambdaContext, logger, logStreamUrl } from './runtime.js';

/**
 * Backs up one database: `{ "database": "school", "tier": "daily" }`, from a schedule or by hand.
 * Returns the manifest; a failure is emailed, then rethrown so the invocation counts as failed.
 */
export async function handler(event: unknown, context: LambdaContext): Promise<Manifest> {
  logger.addContext(context as never);
  return measuredBackup(event, {
    runId: context.awsRequestId,
    logUrl: logStreamUrl(context.logGroupName, context.logStreamName),
  });
}
