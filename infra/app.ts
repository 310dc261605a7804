/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`. Reads the deployment config from
 * `-c config=PATH` (default dbbackup.config.json; without either, the shipped example, which
 * synthesizes but CloudFormation refuses to deploy) and checks the stack with cdk-nag's AWS
 * Solutions and Serverless rules.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Validations } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { loadDeploymentConfig } from '../shared/deployment/deployment-config.js';
import { addDeployment } from './add-deployment.js';
import { checkDeploymentLimits } from './deployment-limits.js';
import { refuseDeployment } from './refuse-deployment.js';
import type { DbBackupImage } from './dbbackup-stack.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The image every function and backup task runs, built from the repository's Dockerfile at deploy
 * time: the same build options give the same asset hash, so it is built and pushed once. Built for
 * x86_64 on any machine, since the functions and tasks run on x86_64. What goes into the build
 * context (and the hash) is listed once, in .dockerignore, which CDK reads as Docker does.
 */
const assetOptions = { platform: Platform.LINUX_AMD64 };
export const image: DbBackupImage = {
  lambda: (handler) => lambda.DockerImageCode.fromImageAsset(repoRoot, { ...assetOptions, cmd: [handler] }),
  container: () => ecs.ContainerImage.fromAsset(repoRoot, assetOptions),
};

const app = new App();
const chosen = app.node.tryGetContext('config') as string | undefined;
const exampleOnly = !chosen && !existsSync('dbbackup.config.json');
const configPath = resolve(chosen ?? (exampleOnly ? join(repoRoot, 'dbbackup.config.example.json') : 'dbbackup.config.json'));
if (exampleOnly) {
  process.stderr.write(
    `dbbackup: no dbbackup.config.json here; synthesizing the example config (${configPath}) to look at: it will not deploy\n`,
  );
}
try {
  const config = await loadDeploymentConfig(configPath);
  const stackName: string = app.node.tryGetContext('stackName') ?? 'DbBackup';
  const { main, replica } = addDeployment(app, { config, stackName, image });
  // Its example hosts and secrets would deploy a stack whose every backup fails.
  if (exampleOnly)
    for (const stack of replica ? [replica, main] : [main])
      refuseDeployment(
        stack,
        `dbbackup: ${stack.stackName} was synthesized from the example config; write dbbackup.config.json (or pass -c config=PATH) and deploy again`,
      );
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  // Synthesized here, not when the process exits, so that a template CloudFormation would refuse
  // (too many resources, outputs or bytes) fails now, in one line.
  checkDeploymentLimits(app.synth().directory);
} catch (error) {
  process.stderr.write(
    `dbbackup: ${(error as Error).message}${(error as { hint?: string }).hint ? `. ${(error as { hint?: string }).hint}` : ''}\n`,
  );
  process.exit(2);
}
