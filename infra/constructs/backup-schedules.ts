import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import { type DeploymentConfig, type Schedule, TIERS, tierSettings } from '../../shared/deployment-config.js';
import type { DatabaseFunctions } from './backup-functions.js';

/** Properties of {@link BackupSchedules}. */
export interface BackupSchedulesProps {
  readonly config: DeploymentConfig;
  readonly functions: readonly DatabaseFunctions[];
}

/**
 * One EventBridge Scheduler schedule per database and tier, in the deployment's time zone
 * (Scheduler, unlike EventBridge rules, understands time zones and daylight saving), each
 * invoking the database's backup function with `{ "database": …, "tier": … }`.
 */
export class BackupSchedules extends Construct {
  readonly schedules: scheduler.CfnSchedule[] = [];

  constructor(scope: Construct, id: string, props: BackupSchedulesProps) {
    super(scope, id);
    const role = new iam.Role(this, 'InvokeRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'dbbackup: lets EventBridge Scheduler invoke the backup functions',
    });
    for (const { database, backup } of props.functions) {
      backup.grantInvoke(role);
      acknowledge(
        role,
        [`IAM5[Resource::${arnInFinding(this, backup.functionArn)}:*]`],
        'Function.grantInvoke covers the function and its versions; the role can invoke nothing else.',
      );
      for (const tier of TIERS) {
        const { schedule } = tierSettings(database, tier);
        if (!schedule.enabled) continue;
        this.schedules.push(
          new scheduler.CfnSchedule(this, `${database.name}-${tier}`, {
            description: `dbbackup: ${tier} backup of ${database.name}`,
            scheduleExpression: cronExpression(tier, schedule),
            scheduleExpressionTimezone: props.config.timeZone,
            flexibleTimeWindow: { mode: 'OFF' },
            target: {
              arn: backup.functionArn,
              roleArn: role.roleArn,
              input: JSON.stringify({ database: database.name, tier }),
              // A retry could overlap a slow run; failures are emailed and alarmed on instead.
              retryPolicy: { maximumRetryAttempts: 0 },
            },
          }),
        );
      }
    }
  }
}

/** `cron(0 23 * * ? *)` daily, `cron(0 2 ? * SUN *)` weekly, `cron(0 3 1 * ? *)` monthly. */
export function cronExpression(tier: (typeof TIERS)[number], schedule: Required<Schedule>): string {
  const time = `${schedule.minute} ${schedule.hour}`;
  if (tier === 'weekly') return `cron(${time} ? * ${schedule.weekday ?? 'SUN'} *)`;
  if (tier === 'monthly') return `cron(${time} ${schedule.day ?? 1} * ? *)`;
  return `cron(${time} * * ? *)`;
}
