import { createHash } from 'node:crypto';
import type { DatabaseConfig, DeploymentConfig } from '../shared/deployment/deployment-config.js';

/**
 * How many databases one group (one nested stack, one backup and one restore function) serves at
 * most. Each database adds its config, up to three schedules and two alarms to its group's stack,
 * and its secret and key prefix to its group's role policies, which IAM caps at 10,240 characters
 * a role: 25 keeps both far inside their limits.
 */
export const DATABASES_PER_GROUP = 25;

/** Databases that share one network, and so one backup function, one restore function and one nested stack. */
export interface DatabaseGroup {
  /** `n<hash of the network>-<n>`: stable while the network and the databases' order before it are. */
  readonly id: string;
  readonly databases: readonly DatabaseConfig[];
  /** What the group's functions attach to: the VPC settings, or the SQLite database's EFS. */
  readonly network?: NonNullable<Extract<DatabaseConfig, { engine: 'postgres' }>['vpc']>;
  readonly efs?: Extract<DatabaseConfig, { engine: 'sqlite' }>['efs'];
}

/**
 * The rule that splits a deployment: databases with the same network (the same VPC, subnets and
 * security groups, or, for SQLite, the same EFS access point, which a function mounts one of) share
 * a group, taken in the config's order, at most {@link DATABASES_PER_GROUP} a group. A database
 * added at the end of the config moves no other database.
 */
export function planDatabaseGroups(config: DeploymentConfig): DatabaseGroup[] {
  const byNetwork = new Map<string, DatabaseConfig[]>();
  for (const db of config.databases) {
    const key = networkKey(db);
    byNetwork.set(key, [...(byNetwork.get(key) ?? []), db]);
  }
  const groups: DatabaseGroup[] = [];
  for (const [key, databases] of byNetwork) {
    const hash = createHash('sha256').update(key).digest('hex').slice(0, 6);
    for (let i = 0; i * DATABASES_PER_GROUP < databases.length; i++) {
      const members = databases.slice(i * DATABASES_PER_GROUP, (i + 1) * DATABASES_PER_GROUP);
      const first = members[0] as DatabaseConfig;
      groups.push({
        id: `n${hash}-${i + 1}`,
        databases: members,
        network: first.engine === 'postgres' ? first.vpc : undefined,
        efs: first.engine === 'sqlite' ? first.efs : undefined,
      });
    }
  }
  return groups;
}

function networkKey(db: DatabaseConfig): string {
  const sorted = (values: readonly string[]) => [...values].sort();
  if (db.engine === 'sqlite') {
    const { efs } = db;
    return JSON.stringify([
      'efs',
      efs.fileSystemId,
      efs.accessPointId,
      efs.vpcId,
      sorted(efs.subnetIds),
      sorted(efs.securityGroupIds),
    ]);
  }
  if (!db.vpc) return JSON.stringify(['none']);
  return JSON.stringify(['vpc', db.vpc.vpcId, sorted(db.vpc.subnetIds), sorted(db.vpc.securityGroupIds)]);
}
