/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. Reads the deployment config from
 * `-c config=PATH` (default dbbackup.config.json, else the shipped example) and checks the
 * stack with cdk-nag's AWS Solutions rules.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadDeploymentConfig } from '../shared/deployment-config.js';
import { DbBackupStack } from './dbbackup-stack.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The container image every function runs, built from the repository's Dockerfile at deploy time. */
export function imageCode(handler: string): lambda.DockerImageCode {
  return lambda.DockerImageCode.fromImageAsset(repoRoot, {
    cmd: [handler],
    exclude: ['node_modules', 'dist', 'cdk.out', 'backups', '.git', 'test/fixtures', '**/*.db', '**/*.sqlite*'],
  });
}

const app = new App();
const chosen = app.node.tryGetContext('config') as string | undefined;
const configPath = resolve(
  chosen ?? (existsSync('dbbackup.config.json') ? 'dbbackup.config.json' : join(repoRoot, 'dbbackup.config.example.json')),
);
if (!chosen && !existsSync('dbbackup.config.json')) {
  process.stderr.write(`dbbackup: no dbbackup.config.json here; synthesizing the example config (${configPath})\n`);
}
try {
  const config = await loadDeploymentConfig(configPath);
  new DbBackupStack(app, app.node.tryGetContext('stackName') ?? 'DbBackup', { config, code: imageCode });
} catch (error) {
  process.stderr.write(
    `dbbackup: ${(error as Error).message}${(error as { hint?: string }).hint ? `. ${(error as { hint?: string }).hint}` : ''}\n`,
  );
  process.exit(2);
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
