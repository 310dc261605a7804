/**
 * The Fargate runner: `node dist/functions/backup-task.js`, started by the same schedule as the
 * backup function, with the same `{ "database": …, "tier": … }` event in DBBACKUP_EVENT. It runs
 * the same backup with the same logs, metrics and alerts, without Lambda's 15-minute limit.
 *
 * A task has no time limit of its own: it stops, cleans up and emails the failure once the
 * database's `task.timeoutMinutes` (default a day) have passed, or when ECS stops it (SIGTERM,
 * 30 s before its SIGKILL).
 *
 * Exit codes: 0 backed up; 100 failed and emailed the failure; anything else (a crash, a kill)
 * is emailed by the alert function, which an EventBridge rule sends every stopped backup task.
 */
import { REPORTED_FAILURE_EXIT_CODE, TASK_EVENT_VARIABLE } from '../shared/deployment/backup-task.js';
import { taskTimeoutMinutes } from '../shared/deployment/deployment-config.js';
import { ScheduledBackupFailure } from '../shared/deployment/run-scheduled-backup.js';
import { measuredBackup } from './measured-backup.js';
import { logger } from './runtime.js';
import { taskIdentity } from './task-identity.js';

const started = Date.now();
const stopped = new AbortController();
const onSignal = (name: NodeJS.Signals) => {
  logger.warn('stopping', { signal: name });
  stopped.abort(name);
};
process.once('SIGTERM', onSignal);
process.once('SIGINT', onSignal);

const identity = await taskIdentity();
logger.appendPersistentKeys({ runId: identity.runId });
try {
  await measuredBackup(readEvent(), {
    ...identity,
    signal: stopped.signal,
    deadline: (db) => {
      const minutes = taskTimeoutMinutes(db);
      return { at: started + minutes * 60_000, setBy: `the task's timeout of ${minutes} minutes, task.timeoutMinutes` };
    },
  });
  process.exitCode = 0;
} catch (error) {
  logger.error('backup task failed', { error: (error as Error).message });
  process.exitCode = error instanceof ScheduledBackupFailure && error.alerted ? REPORTED_FAILURE_EXIT_CODE : 1;
}
// Done: a request still waiting out its timeouts (on an S3 that stopped answering) must not keep the task running.
setTimeout(() => process.exit(), 2_000).unref();

/** The event; one that is missing or not JSON is still handed on, so its failure is emailed by field. */
function readEvent(): unknown {
  const text = process.env[TASK_EVENT_VARIABLE] ?? '{}';
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
