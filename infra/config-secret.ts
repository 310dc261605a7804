import { RemovalPolicy, SecretValue, Stack } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { DatabaseConfig, DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { acknowledge } from './acknowledge.js';

/**
 * The config a group's functions read at every run: the deployment's settings and the group's
 * databases (no credential: those stay in the databases' own secrets). A secret rather than an
 * environment variable because a group's config outgrows Lambda's 4 KB of environment, and
 * because the functions already reach Secrets Manager; changing it changes no function.
 */
export function configSecret(scope: Construct, id: string, config: DeploymentConfig, databases: readonly DatabaseConfig[]) {
  const secret = new secretsmanager.Secret(scope, id, {
    description: `dbbackup: the config of ${databases.length} database(s) of ${Stack.of(scope).stackName} (no credentials)`,
    secretStringValue: SecretValue.unsafePlainText(JSON.stringify({ ...config, databases })),
    removalPolicy: RemovalPolicy.DESTROY,
  });
  acknowledge(secret, ['SMG4'], 'Not a credential but the deployment config; it changes with each deploy, never by rotation.');
  return secret;
}
