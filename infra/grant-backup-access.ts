import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { IConstruct } from 'constructs';
import type { DeploymentConfig } from '../shared/deployment/deployment-config.js';
import { acknowledge, arnInFinding } from './acknowledge.js';
import type { BackupBucket } from './constructs/backup-bucket.js';

/**
 * Lets `grantee` list and read every object of the bucket (manifests, backups, run records):
 * Bucket.grantRead, which also lets it decrypt with the bucket's key. Nothing is written or
 * deleted. The cdk-nag findings of `bucket/*` are acknowledged on `owner` with `why`.
 */
export function grantReadingBackups(grantee: iam.IGrantable, owner: IConstruct, storage: BackupBucket, why: string): void {
  storage.bucket.grantRead(grantee);
  acknowledge(
    owner,
    [
      `IAM5[Resource::${arnInFinding(owner, storage.bucket.bucketArn)}/*]`,
      'IAM5[Action::s3:GetObject*]',
      'IAM5[Action::s3:GetBucket*]',
      'IAM5[Action::s3:List*]',
    ],
    why,
  );
}

/**
 * What every function or task that runs backups or restores may do: read backups (a restore may
 * read any; the backup checks what it wrote), create objects only under `writePrefixes` (its
 * databases' own, or the pre-restore prefix), tag them (the SHA-256 tag) and abort its own
 * uploads; never delete, never set retention or legal holds (the bucket policy also refuses
 * both, and any write without If-None-Match); use the bucket's key; read its databases'
 * secrets; send alerts. The cdk-nag findings these grants raise are acknowledged on `owner`,
 * the construct that holds the grantee's role.
 */
export function grantBackupAccess(
  grantee: iam.IGrantable,
  owner: IConstruct,
  props: {
    storage: BackupBucket;
    config: DeploymentConfig;
    secrets: readonly secretsmanager.ISecret[];
    writePrefixes: readonly string[];
    /** A restore role, which the bucket policy holds to its one prefix. */
    restorer?: boolean;
  },
): void {
  const { storage } = props;
  storage.bucket.grantRead(grantee);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:AbortMultipartUpload'],
      resources: props.writePrefixes.map((prefix) => storage.bucket.arnForObjects(`${prefix.replace(/\/$/, '')}/*`)),
    }),
  );
  // What SSE-KMS uploads and reads need, on that one key.
  if (storage.key)
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resources: [storage.key.keyArn] }),
    );
  allowSendingAlerts(grantee, props.config, Stack.of(owner));
  for (const secret of props.secrets) secret.grantRead(grantee);
  storage.addWriter(grantee.grantPrincipal as iam.IRole, props.restorer ? props.writePrefixes[0] : undefined);
  acknowledge(
    owner,
    [
      `IAM5[Resource::${arnInFinding(owner, storage.bucket.bucketArn)}/*]`,
      ...props.writePrefixes.map(
        (prefix) => `IAM5[Resource::${arnInFinding(owner, storage.bucket.bucketArn)}/${prefix.replace(/\/$/, '')}/*]`,
      ),
      'IAM5[Action::s3:GetObject*]',
      'IAM5[Action::s3:GetBucket*]',
      'IAM5[Action::s3:List*]',
    ],
    "Backups are objects read by name (Bucket.grantRead: bucket/*) and written under their database's prefix; no delete is granted.",
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
