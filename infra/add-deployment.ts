import type { App } from 'aws-cdk-lib';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { type DbBackupImage, DbBackupStack } from './dbbackup-stack.js';
import { DbBackupReplicaStack } from './dbbackup-replica-stack.js';

/** The stacks of one deployment: the main stack, and the replica stack when replication is on. */
export interface Deployment {
  readonly main: DbBackupStack;
  readonly replica?: DbBackupReplicaStack;
}

/**
 * Adds a deployment to an app. With `bucket.replicationRegion`, a second stack
 * (`<stackName>-Replica`, in that region) holds the replica bucket and is deployed first.
 */
export function addDeployment(
  app: App,
  options: { config: DeploymentConfig; stackName: string; image: DbBackupImage },
): Deployment {
  const { config, stackName, image } = options;
  const region = config.bucket.replicationRegion;
  const replica = region
    ? new DbBackupReplicaStack(app, `${stackName}-Replica`, { env: { region }, config, primaryStackName: stackName })
    : undefined;
  const main = new DbBackupStack(app, stackName, { config, image });
  if (replica) main.addStackDependency(replica, 'S3 replication needs the replica bucket to exist');
  return { main, replica };
}
