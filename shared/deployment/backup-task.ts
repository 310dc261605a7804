/**
 * What the Fargate runner's task definition, its entry point and the alert function agree on:
 * the container's name, how the event reaches it, what its exit code means, where it logs.
 */

/** The name of the container in a backup task definition. */
export const BACKUP_CONTAINER = 'backup';

/** The environment variable that carries a backup task's `{ database, tier }` event. */
export const TASK_EVENT_VARIABLE = 'DBBACKUP_EVENT';

/** The exit code of a backup task that failed and has emailed the failure itself. */
export const REPORTED_FAILURE_EXIT_CODE = 100;

/** The awslogs stream prefix of backup tasks. */
export const TASK_LOG_PREFIX = 'backup';

/** The log stream the awslogs driver writes a backup task's output to: `prefix/container/task-id`. */
export function taskLogStream(taskId: string): string {
  return `${TASK_LOG_PREFIX}/${BACKUP_CONTAINER}/${taskId}`;
}
