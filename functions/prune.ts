import type { Handler } from 'aws-lambda';
import { formatErrorLine } from '../shared/errors.js';
import { runScheduledPrune, type ScheduledPruneResult } from '../shared/deployment/run-scheduled-prune.js';
import { bucket, logger, readConfig, settings } from './runtime.js';

/**
 * Prunes one database by its configured retention: `{ "database": "school" }`, from the schedule
 * that follows its daily backup, or by hand. Its role is the deployment's only one that may delete.
 */
export const handler: Handler<unknown, ScheduledPruneResult> = async (event, context) => {
  logger.addContext(context);
  logger.info('prune started', { event });
  try {
    const result = await runScheduledPrune(event, { config: await readConfig(), bucket, settings });
    if (result.problems.length > 0) logger.warn('manifests kept unread', { problems: result.problems });
    logger.info('prune completed', {
      database: result.database,
      kept: result.kept,
      deleted: result.deleted,
      orphansRemoved: result.orphansRemoved,
      runRecordsRemoved: result.runRecordsRemoved.length,
    });
    return result;
  } catch (error) {
    const reason = formatErrorLine(error);
    logger.error('prune failed', { error: reason });
    throw new Error(reason);
  }
};
