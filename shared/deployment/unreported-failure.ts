import { z } from 'zod';
import { backupEventLabels } from './backup-event.js';
import { isSecretParameter } from '../engines/registry.js';
import { REDACTED, redactLocation } from '../redact.js';
import { BACKUP_CONTAINER, REPORTED_FAILURE_EXIT_CODE, TASK_EVENT_VARIABLE } from './backup-task.js';

/**
 * The error name a backup function's invocation fails with once it has emailed the failure
 * itself. Lambda hands the failed invocation to the alert function too (its on-failure
 * destination), which must not email the same failure twice.
 */
export const REPORTED_FAILURE_ERROR = 'BackupFailureReported';

/** A backup that failed without being able to say so: timed out, crashed, killed, never started. */
export interface UnreportedFailure {
  readonly database: string;
  readonly tier: string;
  readonly error: string;
  readonly runId: string;
  /** A backup task's ID, to find its log stream. */
  readonly taskId?: string;
  /** The failed invocation's function, to search its log for the request id (`runId`). */
  readonly functionArn?: string;
}

/** What Lambda sends an on-failure destination when an asynchronous invocation failed for good. */
const lambdaFailureSchema = z.object({
  requestContext: z.object({
    requestId: z.string(),
    functionArn: z.string().optional(),
    condition: z.string().optional(),
  }),
  requestPayload: z.unknown(),
  responsePayload: z.unknown(),
});

/** EventBridge's "ECS Task State Change" event (the fields read here). */
const taskStateChangeSchema = z.object({
  'detail-type': z.literal('ECS Task State Change'),
  detail: z.object({
    taskArn: z.string(),
    taskDefinitionArn: z.string(),
    lastStatus: z.string(),
    stopCode: z.string().optional(),
    stoppedReason: z.string().optional(),
    containers: z
      .array(z.object({ name: z.string(), exitCode: z.number().optional(), reason: z.string().optional() }))
      .default([]),
    overrides: z
      .object({
        containerOverrides: z
          .array(
            z.object({
              name: z.string(),
              environment: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
            }),
          )
          .default([]),
      })
      .optional(),
  }),
});

const errorPayloadSchema = z.object({ errorType: z.string().optional(), errorMessage: z.string().optional() }).loose();

/**
 * Reads an event the alert function receives (a failed Lambda invocation, or a backup task that
 * stopped) and returns the failure nobody has reported yet, or `undefined` when there is none:
 * the run succeeded, or it failed and already sent its own email.
 */
export function unreportedFailure(event: unknown): UnreportedFailure | undefined {
  const task = taskStateChangeSchema.safeParse(event);
  if (task.success) return fromStoppedTask(task.data.detail);
  const invocation = lambdaFailureSchema.safeParse(event);
  if (invocation.success) return fromFailedInvocation(invocation.data);
  return { database: 'unknown database', tier: 'unknown', error: `unrecognized failure event: ${preview(event)}`, runId: '-' };
}

function fromFailedInvocation(event: z.output<typeof lambdaFailureSchema>): UnreportedFailure | undefined {
  const response = errorPayloadSchema.safeParse(event.responsePayload);
  const errorType = response.success ? response.data.errorType : undefined;
  if (errorType === REPORTED_FAILURE_ERROR) return undefined;
  const { requestContext } = event;
  const reason = (response.success ? response.data.errorMessage : undefined) ?? 'the invocation failed';
  const where = [requestContext.functionArn ?? 'backup function', requestContext.condition].filter(Boolean).join(', ');
  return {
    ...backupEventLabels(event.requestPayload),
    error: `${reason} (${where})`,
    runId: requestContext.requestId,
    functionArn: requestContext.functionArn,
  };
}

function fromStoppedTask(task: z.output<typeof taskStateChangeSchema>['detail']): UnreportedFailure | undefined {
  if (task.lastStatus !== 'STOPPED') return undefined;
  const container = task.containers.find((c) => c.name === BACKUP_CONTAINER) ?? task.containers[0];
  const exitCode = container?.exitCode;
  if (exitCode === 0 || exitCode === REPORTED_FAILURE_EXIT_CODE) return undefined;
  const override = task.overrides?.containerOverrides.find((o) => o.name === BACKUP_CONTAINER);
  const variable = override?.environment?.find((e) => e.name === TASK_EVENT_VARIABLE)?.value;
  let backup: unknown;
  try {
    backup = variable ? JSON.parse(variable) : undefined;
  } catch {
    // An override that is not JSON still leaves the task's own failure to report.
  }
  const family = task.taskDefinitionArn.split('/').at(-1)?.split(':')[0] ?? task.taskDefinitionArn;
  const taskId = task.taskArn.split('/').at(-1) ?? task.taskArn;
  const why = [
    exitCode === undefined ? undefined : `the backup container exited with code ${exitCode}${signalName(exitCode)}`,
    container?.reason,
    task.stoppedReason,
  ].filter((part): part is string => Boolean(part));
  return {
    ...backupEventLabels(backup, `task ${family}`),
    error: `${why.length > 0 ? why.join('; ') : 'the backup task stopped'} (${task.stopCode ?? 'stopped'}, task ${taskId})`,
    runId: taskId,
    taskId,
  };
}

/** 137 reads better as "killed (SIGKILL, often out of memory)". */
function signalName(exitCode: number): string {
  if (exitCode === 137) return ' (SIGKILL: killed, often for running out of memory)';
  if (exitCode === 143) return ' (SIGTERM: the task was stopped)';
  if (exitCode === 134) return ' (SIGABRT: the process aborted, often out of heap memory)';
  return '';
}

/** The start of an event nobody knows, for the email: any value a secret parameter names, or a location's secrets, redacted. */
function preview(event: unknown): string {
  const text =
    JSON.stringify(event, (key, value: unknown) =>
      typeof value !== 'string' ? value : isSecretParameter(key) ? REDACTED : redactLocation(value, isSecretParameter),
    ) ?? typeof event;
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
