import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { acknowledge } from '../acknowledge.js';
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
  /** Object Lock in governance mode for this many days. @default no Object Lock */
  readonly objectLockDays?: number;
}

/**
 * The bucket backups live in: encrypted (SSE-KMS with a customer managed key by default), all
 * public access blocked, TLS only, uploads that ask for another encryption refused, versioned,
 * incomplete multipart uploads aborted after a day, noncurrent versions expired, access logged,
 * and retained when the stack is deleted.
 */
export class BackupBucket extends Construct {
  readonly bucket: s3.Bucket;
  /** The customer managed key, when `encryption` is `kms`. */
  readonly key?: kms.Key;

  constructor(scope: Construct, id: string, props: BackupBucketProps = {}) {
    super(scope, id);
    const encryption = props.encryption ?? 'kms';
    if (encryption === 'kms') {
      this.key = new kms.Key(this, 'Key', {
        description: 'dbbackup: encrypts database backups',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
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
      encryption: encryption === 'kms' ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: this.key,
      bucketKeyEnabled: encryption === 'kms',
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectLockEnabled: props.objectLockDays !== undefined,
      objectLockDefaultRetention: props.objectLockDays
        ? s3.ObjectLockRetention.governance(Duration.days(props.objectLockDays))
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
    // (A Null-condition deny would also refuse UploadPart, which never carries the header.)
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'DenyOtherEncryption',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects('*')],
        conditions: {
          StringNotEqualsIfExists: { 's3:x-amz-server-side-encryption': encryption === 'kms' ? 'aws:kms' : 'AES256' },
        },
      }),
    );
  }
}
