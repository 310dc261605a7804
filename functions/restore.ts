import type { Handler } from 'aws-lambda';
import { formatErrorLine } from '../shared/errors.js';
import { secretsManagerCredentials } from '../shared/deployment/fetch-credentials.js';
import { loggableRestoreEvent, runFunctionRestore } from '../shared/deployment/run-function-restore.js';
import type { RestoreResult } from '../shared/restore/run-restore.js';
import { readProgressFields, throttled } from '../shared/pipeline/read-progress.js';
import { bucket, functionDeadline, kmsKeyId, logger, readConfig, settings } from './runtime.js';

const credentials = secretsManagerCredentials();

/** How often a restore logs its progress: a long restore is seen to move, without a log line per chunk. */
const PROGRESS_LOG_MS = 15_000;

/**
 * Restores a backup, invoked by hand: `{ "database": "school", "latest": true, "confirm": "school" }`.
 * Without a matching "confirm" it refuses and says what it would have replaced.
 */
export const handler: Handler<unknown, RestoreResult> = async (event, context) => {
  logger.addContext(context);
  logger.info('restore started', { event: loggableRestoreEvent(event) });
  try {
    const result = await runFunctionRestore(event, {
      config: await readConfig(),
      bucket,
      kmsKeyId,
      credentials,
      settings,
      onPhase: (phase) => logger.info(phase),
      onProgress: throttled(PROGRESS_LOG_MS, (p) => logger.info('restore progress', readProgressFields(p))),
      // Stop before Lambda's time limit, all or nothing as ever, with time left to say so.
      deadline: functionDeadline(context),
    });
    logger.info('restore completed', {
      tables: result.tables,
      rows: result.rows,
      safetyBackup: result.safetyBackup,
      replaced: result.replaced?.name,
      dryRun: result.dryRun,
    });
    return result;
  } catch (error) {
    const reason = formatErrorLine(error);
    logger.error('restore failed', { error: reason });
    throw new Error(reason);
  }
};
