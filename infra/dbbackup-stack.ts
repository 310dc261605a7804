import { Stack, type StackProps } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../shared/deployment-config.js';
import { BackupBucket } from './constructs/backup-bucket.js';
import { BackupFunctions } from './constructs/backup-functions.js';
import { BackupMonitoring } from './constructs/backup-monitoring.js';
import { BackupSchedules } from './constructs/backup-schedules.js';

/** Properties of {@link DbBackupStack}. */
export interface DbBackupStackProps extends StackProps {
  readonly config: DeploymentConfig;
  /** The container image of the functions, by handler. */
  readonly code: (handler: string) => lambda.DockerImageCode;
}

/** One dbbackup deployment. Only wires the constructs; each holds its own concern and defaults. */
export class DbBackupStack extends Stack {
  readonly storage: BackupBucket;
  readonly functions: BackupFunctions;
  readonly schedules: BackupSchedules;
  readonly monitoring: BackupMonitoring;

  constructor(scope: Construct, id: string, props: DbBackupStackProps) {
    super(scope, id, props);
    const { config } = props;
    // Accepted by the config schema for what comes next, but refused here rather than silently ignored.
    const fargate = config.databases.filter((d) => d.runner === 'fargate').map((d) => d.name);
    if (fargate.length > 0)
      throw new Error(`runner "fargate" is not available yet (databases: ${fargate.join(', ')}); use "lambda"`);
    if (config.bucket.replicationRegion) throw new Error('bucket.replicationRegion is not available yet; remove it to deploy');
    this.storage = new BackupBucket(this, 'Storage', config.bucket);
    this.functions = new BackupFunctions(this, 'Functions', { config, storage: this.storage, code: props.code });
    this.schedules = new BackupSchedules(this, 'Schedules', { config, functions: this.functions.databases });
    this.monitoring = new BackupMonitoring(this, 'Monitoring', {
      config,
      functions: this.functions.databases,
      key: this.storage.key,
    });
  }
}
