import { Aws, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { acknowledge, arnInFinding } from '../acknowledge.js';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

/** Properties of {@link BackupBucket}. */
export interface BackupBucketProps {
  /** `kms`: a customer managed key with rotation; `s3`: SSE-S3. @default 'kms' */
  readonly encryption?: 'kms' | 's3';
  /** Days noncurrent versions are kept. @default 30 */
  readonly noncurrentVersionDays?: number;
  /** Object Lock for this many days. @default no Object Lock */
  readonly objectLockDays?: number;
  /** The Object Lock retention mode. @default 'governance' */
  readonly objectLockMode?: 'governance' | 'compliance';
  /** A fixed bucket name (the replica's, which the primary must know). @default a generated name */
  readonly bucketName?: string;
  /** An alias for the key (the replica's, which the primary must know). @default no alias */
  readonly keyAlias?: string;
  /** Replicate every object to this bucket (in another region, with its own key). @default no replication */
  readonly replicateTo?: ReplicaLocation;
}

/** Where a replica bucket is, by names both stacks derive (no cross-region references needed). */
export interface ReplicaLocation {
  readonly region: string;
  readonly bucketName: string;
  /** The bucket name as cdk-nag writes it in a finding (`<AWS::AccountId>` for the account). */
  readonly bucketNameInFinding: string;
  /** `alias/…` of the replica's KMS key, when it uses SSE-KMS. */
  readonly keyAlias?: string;
}

/**
 * The bucket backups live in: encrypted (SSE-KMS with a customer managed key by default), all
 * public access blocked, TLS only, uploads that ask for another encryption refused, versioned,
 * incomplete multipart uploads aborted after a day, noncurrent versions expired, access logged,
 * and retained when the stack is deleted; optionally replicated to a bucket in another region.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** The customer managed key, when `encryption` is `kms`. */
  readonly key?: kms.Key;
  /** The replica bucket's name, when backups are replicated. */
  replicationDestination?: string;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    const encryption = props.encryption ?? 'kms';
    if (encryption === 'kms') {
      this.key = new kms.Key(this, 'Key', {
        description: 'dbbackup: encrypts database backups',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
        alias: props.keyAlias,
      });
    }
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [{ expiration: Duration.days(365) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(accessLogs, ['S1'], 'This is the access log bucket of the backup bucket; logging it would recurse.');

    this.bucket = new s3.Bucket(this, 'Bucket', {
      bucketName: props.bucketName,
      encryption: encryption === 'kms' ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: this.key,
      bucketKeyEnabled: encryption === 'kms',
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectLockEnabled: props.objectLockDays !== undefined,
      objectLockDefaultRetention: props.objectLockDays
        ? (props.objectLockMode === 'compliance' ? s3.ObjectLockRetention.compliance : s3.ObjectLockRetention.governance)(
            Duration.days(props.objectLockDays),
          )
        : undefined,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'backup-bucket/',
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(props.noncurrentVersionDays ?? 30) },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Every object is encrypted by the bucket's default; refuse uploads that ask for something else.
    // Only those that ask: a request without the header (UploadPart never carries it, and a client
    // may leave encryption to the bucket) gets the bucket's default. (An ...IfExists or a bare
    // StringNotEquals condition is true when the key is absent, which would refuse both.)
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherEncryption',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          Null: { 's3:x-amz-server-side-encryption': 'false' },
          StringNotEquals: { 's3:x-amz-server-side-encryption': encryption === 'kms' ? 'aws:kms' : 'AES256' },
        },
      }),
    );
    // Never overwrite, enforced by the bucket, not only promised by the client: every object
    // creation (PutObject, CompleteMultipartUpload, CopyObject) must carry If-None-Match; the parts
    // of a multipart upload, which cannot carry it, are not object creations.
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyWritesWithoutIfNoneMatch',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      }),
    );
    if (props.replicateTo) this.replicate(props.replicateTo);
  }

  private writers?: iam.PolicyStatement;
  private pruners?: { writes: iam.PolicyStatement; outside: iam.PolicyStatement };
  private readonly confined = new Map<string, iam.PolicyStatement>();

  /**
   * Holds a role that writes backups to what the bucket allows a writer, whatever its own policies
   * say: no retention or legal-hold changes, no governance bypass, no deletes of objects or versions
   * (a compromised function cannot erase the backups); with `onlyUnder`, no writes outside that prefix.
   */
  addWriter(role: iam.IRole, onlyUnder?: string): void {
    if (!this.writers) {
      this.writers = new iam.PolicyStatement({
        sid: 'DenyWritersRetentionAndDeletes',
        effect: iam.Effect.DENY,
        actions: [
          's3:PutObjectRetention',
          's3:PutObjectLegalHold',
          's3:BypassGovernanceRetention',
          's3:DeleteObject',
          's3:DeleteObjectVersion',
          's3:PutObjectVersionTagging',
          's3:DeleteObjectTagging',
          's3:DeleteObjectVersionTagging',
        ],
        resources: [this.bucket.arnForObjects('*')],
      });
      this.bucket.addToResourcePolicy(this.writers);
    }
    this.writers.addPrincipals(new iam.ArnPrincipal(role.roleArn));
    if (onlyUnder === undefined) return;
    let confined = this.confined.get(onlyUnder);
    if (!confined) {
      confined = new iam.PolicyStatement({
        sid: `DenyWritesOutside${onlyUnder.replace(/[^A-Za-z0-9]/g, '')}`,
        effect: iam.Effect.DENY,
        actions: ['s3:PutObject'],
        notResources: [this.bucket.arnForObjects(`${onlyUnder}/*`)],
      });
      this.bucket.addToResourcePolicy(confined);
      this.confined.set(onlyUnder, confined);
    }
    confined.addPrincipals(new iam.ArnPrincipal(role.roleArn));
  }

  /**
   * Holds a prune role to what the bucket allows it, whatever its own policies say: deletes only
   * under `folders` (delete markers: the versions stay until the lifecycle rule expires them, the
   * way back from a wrong prune), and no writes, no version deletes, no retention, legal-hold or
   * tag changes, no governance bypass. Its own policy narrows the deletes to its databases'
   * prefixes. Every other role of the deployment is a writer, which may not delete at all.
   */
  addPruner(role: iam.IRole, folders: readonly string[]): void {
    if (!this.pruners) {
      this.pruners = {
        writes: new iam.PolicyStatement({
          sid: 'DenyPrunersWritesAndVersionDeletes',
          effect: iam.Effect.DENY,
          actions: [
            's3:PutObject',
            's3:PutObjectRetention',
            's3:PutObjectLegalHold',
            's3:BypassGovernanceRetention',
            's3:DeleteObjectVersion',
            's3:PutObjectTagging',
            's3:PutObjectVersionTagging',
            's3:DeleteObjectTagging',
            's3:DeleteObjectVersionTagging',
          ],
          resources: [this.bucket.arnForObjects('*')],
        }),
        outside: new iam.PolicyStatement({
          sid: 'DenyPrunersDeletesOutsideBackupFolders',
          effect: iam.Effect.DENY,
          actions: ['s3:DeleteObject'],
          notResources: folders.map((folder) => this.bucket.arnForObjects(`${folder}*`)),
        }),
      };
      this.bucket.addToResourcePolicy(this.pruners.writes);
      this.bucket.addToResourcePolicy(this.pruners.outside);
    }
    this.pruners.writes.addPrincipals(new iam.ArnPrincipal(role.roleArn));
    this.pruners.outside.addPrincipals(new iam.ArnPrincipal(role.roleArn));
  }

  /**
   * Replicates every new object version, delete markers included (so the replica follows retention;
   * its own noncurrent versions keep deleted backups for `noncurrentVersionDays`), re-encrypted with
   * the replica's key. Replication metrics are on, for the failed-replication alarm.
   */
  private replicate(to: ReplicaLocation): void {
    const stack = Stack.of(this);
    const destination = `arn:${stack.partition}:s3:::${to.bucketName}`;
    const role = new iam.Role(this, 'ReplicationRole', {
      assumedBy: new iam.ServicePrincipal('s3.amazonaws.com'),
      description: 'dbbackup: lets S3 replicate backups to the second region',
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetReplicationConfiguration', 's3:ListBucket'],
        resources: [this.bucket.bucketArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          's3:GetObjectVersionForReplication',
          's3:GetObjectVersionAcl',
          's3:GetObjectVersionTagging',
          's3:GetObjectRetention',
          's3:GetObjectLegalHold',
        ],
        resources: [this.bucket.arnForObjects('*')],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ReplicateObject', 's3:ReplicateDelete', 's3:ReplicateTags'],
        resources: [`${destination}/*`],
      }),
    );
    this.key?.grantDecrypt(role);
    if (to.keyAlias) {
      // The replica's key is known by its alias only (it lives in another stack and region).
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['kms:Encrypt', 'kms:GenerateDataKey'],
          resources: [`arn:${stack.partition}:kms:${to.region}:${stack.account}:key/*`],
          conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': to.keyAlias } },
        }),
      );
    }
    const cfn = this.bucket.node.defaultChild as s3.CfnBucket;
    cfn.replicationConfiguration = {
      role: role.roleArn,
      rules: [
        {
          id: REPLICATION_RULE_ID,
          status: 'Enabled',
          priority: 0,
          filter: { prefix: '' },
          deleteMarkerReplication: { status: 'Enabled' },
          sourceSelectionCriteria: this.key ? { sseKmsEncryptedObjects: { status: 'Enabled' } } : undefined,
          destination: {
            bucket: destination,
            encryptionConfiguration: to.keyAlias
              ? { replicaKmsKeyId: `arn:${stack.partition}:kms:${to.region}:${stack.account}:${to.keyAlias}` }
              : undefined,
            metrics: { status: 'Enabled' },
          },
        },
      ],
    };
    this.replicationDestination = to.bucketName;
    acknowledge(
      role,
      [
        `IAM5[Resource::${arnInFinding(this, this.bucket.bucketArn)}/*]`,
        `IAM5[Resource::arn:<AWS::Partition>:s3:::${to.bucketNameInFinding}/*]`,
        `IAM5[Resource::arn:<AWS::Partition>:kms:${to.region}:<AWS::AccountId>:key/*]`,
      ],
      'S3 replication reads every backup object and writes its replica (bucket/*); the replica key is matched by its alias in a condition.',
    );
  }
}

/** The ID of the replication rule, a dimension of S3's replication metrics. */
export const REPLICATION_RULE_ID = 'replicate-backups';

/**
 * The names of a deployment's replica bucket and key in `region`, derived from the stack name on
 * both sides: `<stack>-replica-<account>-<region>` (globally unique) and `alias/<stack>-replica`.
 */
export function replicaLocation(primaryStackName: string, region: string, encryption: 'kms' | 's3'): ReplicaLocation {
  const prefix = primaryStackName
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 26);
  return {
    region,
    // The account resolves in each stack's own template: both are deployed to the same account.
    bucketName: `${prefix}-replica-${Aws.ACCOUNT_ID}-${region}`,
    bucketNameInFinding: `${prefix}-replica-<AWS::AccountId>-${region}`,
    keyAlias: encryption === 'kms' ? `alias/${primaryStackName}-replica` : undefined,
  };
}
