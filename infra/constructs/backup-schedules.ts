import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import {
  type DatabaseConfig,
  type DeploymentConfig,
  type Schedule,
  type Tier,
  TIERS,
  tierSettings,
} from '../../shared/deployment/deployment-config.js';
import { BACKUP_CONTAINER, TASK_EVENT_VARIABLE } from '../../shared/deployment/backup-task.js';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { BackupTasks } from './backup-tasks.js';
import type { DeadLetterQueue } from './dead-letter-queue.js';

/**
 * How often Scheduler tries again to start a backup it could not start (Lambda throttled or
 * refused the asynchronous invoke, ECS refused RunTask), and for how long: a retry is only ever of
 * a start that did not happen, so it cannot overlap a running backup, and an hour keeps even the
 * last retry far from the next daily run. Then the event goes to the dead-letter queue.
 */
export const START_RETRY_POLICY = { maximumRetryAttempts: 5, maximumEventAgeInSeconds: 60 * 60 } as const;

/** Properties of {@link BackupSchedules}. */
export interface BackupSchedulesProps {
  readonly config: DeploymentConfig;
  /** The databases of one group. */
  readonly databases: readonly DatabaseConfig[];
  /** The group's backup function, for its databases on the Lambda runner. */
  readonly backup?: lambda.IFunction;
  /** The group's backup tasks, for its databases on the Fargate runner. */
  readonly tasks?: BackupTasks;
  /** The group's prune function, invoked for each database after its daily run. @default no prune schedules */
  readonly prune?: lambda.IFunction;
  /** Where a schedule's event goes when the backup could not be started (alarmed on). */
  readonly deadLetters: DeadLetterQueue;
}

/**
 * One EventBridge Scheduler schedule per database and enabled tier, in the deployment's time zone
 * (Scheduler, unlike EventBridge rules, understands time zones and daylight saving), each
 * invoking the group's backup function with `{ "database": …, "tier": … }`, or, on the
 * Fargate runner, starting the database's backup task with the same event in DBBACKUP_EVENT.
 * A start that fails is retried ({@link START_RETRY_POLICY}), then dead-lettered.
 */
export class BackupSchedules extends Construct {
  readonly schedules: scheduler.CfnSchedule[] = [];
  private readonly deadLetterArn: string;

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'dbbackup: lets EventBridge Scheduler start the backups',
    });
    props.deadLetters.grantSend(role);
    this.deadLetterArn = props.deadLetters.queue.queueArn;
    const { backup } = props;
    if (backup) {
      backup.grantInvoke(role);
      acknowledge(
        role,
        [`IAM5[Resource::${arnInFinding(this, backup.functionArn)}:*]`],
        'Function.grantInvoke covers the function and its versions; the role can invoke nothing else.',
      );
      for (const database of props.databases.filter((d) => d.runner === 'lambda'))
        this.scheduleEach(database, props.config, (tier) => ({
          arn: backup.functionArn,
          roleArn: role.roleArn,
          input: JSON.stringify({ database: database.name, tier }),
        }));
    }
    if (props.tasks) this.scheduleTasks(props.tasks, role, props.config);
    if (props.prune) this.schedulePrunes(props.prune, role, props);
  }

  /**
   * A prune per database, {@link PRUNE_AFTER_MINUTES} after its daily run (whether or not that ran:
   * the prune keeps the newest backup whatever happened), in the same time zone.
   */
  private schedulePrunes(prune: lambda.IFunction, role: iam.Role, props: BackupSchedulesProps): void {
    prune.grantInvoke(role);
    acknowledge(
      role,
      [`IAM5[Resource::${arnInFinding(this, prune.functionArn)}:*]`],
      'Function.grantInvoke covers the function and its versions; the role can invoke nothing else.',
    );
    for (const database of props.databases) {
      const { schedule } = tierSettings(database, 'daily');
      this.schedules.push(
        new scheduler.CfnSchedule(this, `${database.name}-prune`, {
          description: `dbbackup: prune of ${database.name} by its retention`,
          scheduleExpression: cronExpression('daily', { ...schedule, ...pruneTime(schedule) }),
          scheduleExpressionTimezone: props.config.timeZone,
          flexibleTimeWindow: { mode: 'OFF' },
          target: {
            arn: prune.functionArn,
            roleArn: role.roleArn,
            input: JSON.stringify({ database: database.name }),
            retryPolicy: START_RETRY_POLICY,
            deadLetterConfig: { arn: this.deadLetterArn },
          },
        }),
      );
    }
  }

  /** Schedules on the Fargate runner: Scheduler's ECS target starts the task, the event in an override. */
  private scheduleTasks(tasks: BackupTasks, role: iam.Role, config: DeploymentConfig): void {
    tasks.grantRun(role);
    const cluster = tasks.cluster.cluster.attrArn;
    for (const task of tasks.tasks) {
      const { database, taskDefinition } = task;
      this.scheduleEach(database, config, (tier) => ({
        arn: cluster,
        roleArn: role.roleArn,
        ecsParameters: {
          taskDefinitionArn: taskDefinition.taskDefinitionArn,
          launchType: 'FARGATE',
          platformVersion: 'LATEST',
          taskCount: 1,
          networkConfiguration: {
            awsvpcConfiguration: {
              subnets: [...task.subnetIds],
              securityGroups: [...task.securityGroupIds],
              assignPublicIp: 'DISABLED',
            },
          },
        },
        // For an ECS target, Scheduler reads the input as the task's overrides.
        input: JSON.stringify({
          containerOverrides: [
            {
              name: BACKUP_CONTAINER,
              environment: [{ name: TASK_EVENT_VARIABLE, value: JSON.stringify({ database: database.name, tier }) }],
            },
          ],
        }),
      }));
    }
  }

  private scheduleEach(
    database: DatabaseConfig,
    config: DeploymentConfig,
    target: (tier: Tier) => Omit<scheduler.CfnSchedule.TargetProperty, 'retryPolicy' | 'deadLetterConfig'>,
  ): void {
    for (const tier of TIERS) {
      const { schedule } = tierSettings(database, tier);
      if (!schedule.enabled) continue;
      this.schedules.push(
        new scheduler.CfnSchedule(this, `${database.name}-${tier}`, {
          description: `dbbackup: ${tier} backup of ${database.name}`,
          scheduleExpression: cronExpression(tier, schedule),
          scheduleExpressionTimezone: config.timeZone,
          flexibleTimeWindow: { mode: 'OFF' },
          target: {
            ...target(tier),
            retryPolicy: START_RETRY_POLICY,
            deadLetterConfig: { arn: this.deadLetterArn },
          },
        }),
      );
    }
  }
}

/** How long after a database's daily run its prune runs: a Lambda backup has ended by then. */
export const PRUNE_AFTER_MINUTES = 60;

/**
 * The prune's time of day: {@link PRUNE_AFTER_MINUTES} after the daily run, moved out of 02:00-02:59,
 * which a daylight-saving change skips or repeats in most zones.
 */
export function pruneTime(daily: { hour: number; minute: number }): { hour: number; minute: number } {
  const minutes = (daily.hour * 60 + daily.minute + PRUNE_AFTER_MINUTES) % (24 * 60);
  const hour = Math.floor(minutes / 60);
  return { hour: hour === 2 ? 3 : hour, minute: minutes % 60 };
}

/** `cron(0 23 * * ? *)` daily, `cron(0 4 ? * SUN *)` weekly, `cron(0 3 1 * ? *)` monthly. */
export function cronExpression(tier: (typeof TIERS)[number], schedule: Required<Schedule>): string {
  const time = `${schedule.minute} ${schedule.hour}`;
  if (tier === 'weekly') return `cron(${time} ? * ${schedule.weekday ?? 'SUN'} *)`;
  if (tier === 'monthly') return `cron(${time} ${schedule.day ?? 1} * ? *)`;
  return `cron(${time} * * ? *)`;
}
