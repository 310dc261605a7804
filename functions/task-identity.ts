import { randomUUID } from 'node:crypto';
import type { AlertOrigin } from '../shared/notify/alert.js';
import { alertOrigin, logger, logStreamUrl } from './runtime.js';

/** Who a backup task is: its ID (the run ID in logs and alerts) and a link to its log stream. */
export interface TaskIdentity {
  readonly runId: string;
  readonly logUrl?: string;
  /** The stack, account (from the task's ARN) and region its alerts name. */
  readonly origin: AlertOrigin;
}

/**
 * Asks the ECS task metadata endpoint (v4) for this task's ARN and awslogs stream. Outside ECS
 * (a local run) or when the endpoint does not answer, the run gets a random ID and no link.
 */
export async function taskIdentity(): Promise<TaskIdentity> {
  const endpoint = process.env.ECS_CONTAINER_METADATA_URI_V4;
  if (!endpoint) return { runId: randomUUID(), origin: alertOrigin(undefined) };
  try {
    const response = await fetch(endpoint, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const container = (await response.json()) as {
      Labels?: Record<string, string>;
      LogOptions?: Record<string, string>;
    };
    const taskArn = container.Labels?.['com.amazonaws.ecs.task-arn'];
    const group = container.LogOptions?.['awslogs-group'];
    const stream = container.LogOptions?.['awslogs-stream'];
    return {
      runId: taskArn?.split('/').at(-1) ?? randomUUID(),
      logUrl: group && stream ? logStreamUrl(group, stream) : undefined,
      origin: alertOrigin(taskArn),
    };
  } catch (error) {
    logger.warn('task metadata unavailable', { error: (error as Error).message });
    return { runId: randomUUID(), origin: alertOrigin(undefined) };
  }
}
