import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { acknowledge, arnInFinding } from './acknowledge.js';
import type { BackupBucket } from './constructs/backup-bucket.js';

/**
 * What every function or task that runs backups or restores may do: read and write backups
 * (the backup checks what it wrote; restore writes its pre-restore copy), never delete them;
 * use the bucket's key; read its databases' secrets; send alerts. The cdk-nag findings these
 * grants raise are acknowledged on `owner`, the construct that holds the grantee's role.
 */
export function grantBackupAccess(
  grantee: iam.IGrantable,
  owner: IConstruct,
  props: { storage: BackupBucket; config: DeploymentConfig; secrets: readonly secretsmanager.ISecret[] },
): void {
  const { storage } = props;
  storage.bucket.grantRead(grantee);
  storage.bucket.grantPut(grantee);
  allowSendingAlerts(grantee, props.config, Stack.of(owner));
  for (const secret of props.secrets) secret.grantRead(grantee);
  acknowledge(
    owner,
    [
      `IAM5[Resource::${arnInFinding(owner, storage.bucket.bucketArn)}/*]`,
      'IAM5[Action::s3:GetObject*]',
      'IAM5[Action::s3:GetBucket*]',
      'IAM5[Action::s3:List*]',
      'IAM5[Action::s3:Abort*]',
    ],
    'Granted by Bucket.grantRead/grantPut: backups are objects under the bucket (bucket/*), read and written by name; no delete is granted.',
  );
  if (storage.key)
    acknowledge(
      owner,
      ['IAM5[Action::kms:GenerateDataKey*]', 'IAM5[Action::kms:ReEncrypt*]'],
      'Granted by Bucket.grantPut on the bucket key: what SSE-KMS uploads need, on that one key.',
    );
}

/** Lets a function or task send alert emails from the configured sender (or its domain) only. */
export function allowSendingAlerts(grantee: iam.IGrantable, config: DeploymentConfig, scope: Stack): void {
  const domain = config.alerts.sender.split('@')[1] as string;
  const identity = (name: string) => scope.formatArn({ service: 'ses', resource: 'identity', resourceName: name });
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['ses:SendEmail'],
      resources: [identity(config.alerts.sender), identity(domain)],
    }),
  );
}
