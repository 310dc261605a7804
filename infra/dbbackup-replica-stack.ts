import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { BackupBucket, replicaLocation } from './constructs/backup-bucket.js';

/** Properties of {@link DbBackupReplicaStack}. */
export interface DbBackupReplicaStackProps extends StackProps {
  readonly config: DeploymentConfig;
  /** The name of the deployment's main stack, from which the replica's names are derived. */
  readonly primaryStackName: string;
}

/**
 * The off-site copy of the 3-2-1 rule: in `bucket.replicationRegion`, a bucket with the same
 * protections as the primary (its own KMS key, TLS only, versioned, Object Lock if configured,
 * retained) that S3 replicates every backup into. Deployed before the main stack.
 */
export class DbBackupReplicaStack extends Stack {
  readonly storage: BackupBucket;

  constructor(scope: Construct, id: string, props: DbBackupReplicaStackProps) {
    super(scope, id, props);
    const { bucket } = props.config;
    const location = replicaLocation(props.primaryStackName, this.region, bucket.encryption);
    this.storage = new BackupBucket(this, 'Storage', {
      ...bucket,
      bucketName: location.bucketName,
      keyAlias: location.keyAlias,
    });
    new CfnOutput(this, 'ReplicaBucket', {
      description: 'Where every backup is replicated; read it with dbbackup --target s3://<this bucket>',
      value: this.storage.bucket.bucketName,
    });
  }
}
