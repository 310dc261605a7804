import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { REPORTED_FAILURE_EXIT_CODE } from '../../shared/deployment/backup-task.js';
import { REPORTED_FAILURE_ERROR, unreportedFailure } from '../../shared/deployment/unreported-failure.js';
import { fixturesDir } from '../harness/test-env.js';

/** A real-shaped "ECS Task State Change" event of a backup task killed for memory. */
const stoppedTask = JSON.parse(readFileSync(join(fixturesDir, 'events/ecs-task-stopped.json'), 'utf8')) as {
  detail: Record<string, unknown> & { containers: Array<Record<string, unknown>> };
};
const withDetail = (detail: Record<string, unknown>) => ({ ...stoppedTask, detail: { ...stoppedTask.detail, ...detail } });
const withExitCode = (exitCode: number | undefined) =>
  withDetail({ containers: [{ ...stoppedTask.detail.containers[0], exitCode, reason: undefined }] });

const failedInvocation = (responsePayload: unknown) => ({
  version: '1.0',
  timestamp: '2026-11-21T23:15:00.000Z',
  requestContext: {
    requestId: 'e2c8a3c4-1111-2222-3333-444455556666',
    functionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:DbBackup-school-backup:$LATEST',
    condition: 'RetriesExhausted',
    approximateInvokeCount: 1,
  },
  requestPayload: { database: 'school', tier: 'monthly' },
  responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
  responsePayload,
});

describe('which failures the alert function still has to email', () => {
  test('a backup task killed for memory: database and tier from its event, the exit code explained, the task named', () => {
    assert.deepEqual(unreportedFailure(stoppedTask), {
      database: 'warehouse',
      tier: 'weekly',
      error:
        'the backup container exited with code 137 (SIGKILL: killed, often for running out of memory); OutOfMemoryError: Container killed due to memory usage; Essential container in task exited (EssentialContainerExited, task 4f5c3c3e0b0e4b1d9c7e2f0a1b2c3d4e)',
      runId: '4f5c3c3e0b0e4b1d9c7e2f0a1b2c3d4e',
      taskId: '4f5c3c3e0b0e4b1d9c7e2f0a1b2c3d4e',
    });
  });

  test('a backup task that never started is reported with ECS’s reason', () => {
    const failure = unreportedFailure(
      withDetail({
        containers: [{ name: 'backup', lastStatus: 'STOPPED' }],
        stopCode: 'TaskFailedToStart',
        stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
      }),
    );
    assert.equal(failure?.database, 'warehouse');
    assert.equal(
      failure?.error,
      'CannotPullContainerError: pull image manifest has been retried 5 time(s) (TaskFailedToStart, task 4f5c3c3e0b0e4b1d9c7e2f0a1b2c3d4e)',
    );
  });

  test('a task started without the event override is still reported, named by its task definition', () => {
    const failure = unreportedFailure({ ...withExitCode(1), detail: { ...withExitCode(1).detail, overrides: undefined } });
    assert.equal(failure?.database, 'task DbBackup-warehouse-backup');
    assert.equal(failure?.tier, 'daily');
  });

  test('nothing to report: a task that succeeded, one that emailed its own failure, one still running', () => {
    assert.equal(unreportedFailure(withExitCode(0)), undefined);
    assert.equal(unreportedFailure(withExitCode(REPORTED_FAILURE_EXIT_CODE)), undefined);
    assert.equal(unreportedFailure(withDetail({ lastStatus: 'RUNNING' })), undefined);
  });

  test('a function that timed out is reported with the runtime’s message and the function', () => {
    assert.deepEqual(
      unreportedFailure(failedInvocation({ errorMessage: '2026-11-21T23:15:00.000Z e2c8 Task timed out after 900.10 seconds' })),
      {
        database: 'school',
        tier: 'monthly',
        error:
          '2026-11-21T23:15:00.000Z e2c8 Task timed out after 900.10 seconds (arn:aws:lambda:eu-west-1:111122223333:function:DbBackup-school-backup:$LATEST, RetriesExhausted)',
        runId: 'e2c8a3c4-1111-2222-3333-444455556666',
        functionArn: 'arn:aws:lambda:eu-west-1:111122223333:function:DbBackup-school-backup:$LATEST',
      },
    );
  });

  test('a function failure the backup already emailed is not emailed twice', () => {
    assert.equal(unreportedFailure(failedInvocation({ errorType: REPORTED_FAILURE_ERROR, errorMessage: 'refused' })), undefined);
    assert.ok(unreportedFailure(failedInvocation({ errorType: 'Error', errorMessage: 'refused' })));
  });

  test('an event of unknown shape is still reported rather than dropped', () => {
    assert.match(unreportedFailure({ hello: 'world' })?.error ?? '', /^unrecognized failure event: \{"hello":"world"\}$/);
  });
});
