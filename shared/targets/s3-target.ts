import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  PutObjectTaggingCommand,
  paginateListObjectsV2,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { ConfigError, IntegrityError, StorageError } from '../errors.js';
import { redactLocation } from '../redact.js';
import { firstCause } from '../pipeline/first-cause.js';
import { assertSafeKey, type PutOptions, type Sse, type StoredObject, type Target } from './target.js';
import { defaultSettings, type Settings } from '../settings.js';

/**
 * When the SDK adds checksums to requests and checks them on responses. `when_supported`
 * (the SDK's default) protects every part in transit on AWS. `when_required` is needed for
 * S3-compatible servers that mishandle checksums on streamed bodies (s3rver stores corrupt
 * bytes), and is what the standard `AWS_REQUEST_CHECKSUM_CALCULATION` variable also selects.
 */
export type ChecksumMode = 'when_supported' | 'when_required';

/** Options of the S3 target. */
export interface S3TargetOptions {
  /**
   * Server-side encryption every write asks for. @default none asked: the bucket's default
   * encryption applies (every S3 bucket has one), and a bucket policy that requires its own
   * (aws:kms, say) cannot refuse a write that asks for nothing.
   */
  readonly sse?: Sse;
  /** KMS key id or ARN, with `sse: 'aws:kms'`. @default the bucket's or account's aws/s3 key */
  readonly kmsKeyId?: string;
  /** @default AWS_REQUEST_CHECKSUM_CALCULATION, else 'when_supported' */
  readonly checksums?: ChecksumMode;
  /** A client to use instead of one built from the environment (tests, custom credentials). */
  readonly client?: S3Client;
  /** Endpoint, region and checksum default, as read at the edge. @default defaultSettings() */
  readonly settings?: Settings;
}

/**
 * Parts uploaded at once. An upload buffers at most `UPLOAD_QUEUE_SIZE * partSize` bytes: 32 MiB
 * with 8 MiB parts, more once a backup is expected to exceed 24 GB and its parts grow to stay
 * under S3's 10,000 (see partSizeFor).
 */
const UPLOAD_QUEUE_SIZE = 4;
const MIN_PART_SIZE = 8 * 1024 * 1024;
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
/** Parts we plan for, below S3's 10,000, because the expected size is an estimate. */
const PLANNED_PARTS = 9_000;
/** A compressed dump can exceed the database's size (bytea is dumped as hex): plan for 3×. */
const SIZE_SAFETY_FACTOR = 3;

/** The part size for a body of about `expectedBytes`, so it never runs into 10,000 parts. */
export function partSizeFor(expectedBytes: number | undefined): number {
  if (!expectedBytes || expectedBytes <= 0) return MIN_PART_SIZE;
  const needed = Math.ceil((expectedBytes * SIZE_SAFETY_FACTOR) / PLANNED_PARTS);
  return Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, needed));
}

/** Parses `s3://bucket/optional/prefix`. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  const bucket = match?.[1] ?? '';
  if (bucket.includes('@')) {
    throw new ConfigError(`invalid S3 URL "${redactLocation(url)}": an S3 URL holds no user name or password`, {
      hint: 'use s3://bucket-name/optional/prefix, with credentials from AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    });
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(`invalid S3 bucket name "${bucket}" in "${redactLocation(url)}"`, {
      hint: 'use s3://bucket-name/optional/prefix (3-63 lowercase letters, digits, dots and hyphens)',
    });
  }
  return { bucket, prefix: (match?.[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

/** How long an S3 request may wait on the network before it is abandoned (and retried). */
export interface S3Timeouts {
  /** To establish a connection. @default 5 s */
  readonly connectionMs?: number;
  /**
   * With nothing sent or received on an open connection: a server that stopped answering. S3
   * answers within this even for a large CompleteMultipartUpload, which it keeps alive with
   * whitespace while it works. @default 30 s
   */
  readonly idleMs?: number;
}

/** Attempts per S3 request, retried with the SDK's standard policy (exponential back-off with jitter). */
const S3_MAX_ATTEMPTS = 3;
const DEFAULT_S3_TIMEOUTS: Required<S3Timeouts> = { connectionMs: 5_000, idleMs: 30_000 };

/**
 * How long a failed upload may take to abort itself (its parts in flight end, then the
 * AbortMultipartUpload) before put gives up waiting: with S3 stalled that abort cannot finish,
 * and the bucket's lifecycle rule removes the incomplete upload instead.
 */
const UPLOAD_ABORT_GRACE_MS = 3_000;

/**
 * Builds an S3 client the standard AWS way (env/profile credentials, region,
 * AWS_ENDPOINT_URL_S3), with a connection and an idle timeout on every request and the SDK's
 * standard retry policy: S3 that stops answering fails a request within
 * `S3_MAX_ATTEMPTS × (idle timeout + back-off)`, never hangs it.
 */
export function createS3Client(options: { checksums?: ChecksumMode; settings?: Settings; timeouts?: S3Timeouts } = {}): S3Client {
  const s3 = (options.settings ?? defaultSettings()).s3;
  const endpoint = s3.endpoint;
  const checksums = options.checksums ?? s3.checksums;
  const timeouts = { ...DEFAULT_S3_TIMEOUTS, ...options.timeouts };
  const config: S3ClientConfig = {
    region: s3.region,
    endpoint,
    // Custom endpoints (MinIO, s3rver, LocalStack) rarely have wildcard DNS for bucket hosts.
    forcePathStyle: endpoint !== undefined,
    followRegionRedirects: true,
    maxAttempts: S3_MAX_ATTEMPTS,
    retryMode: 'standard',
    // The NodeHttpHandler's options: its socketTimeout is the idle timeout.
    requestHandler: { connectionTimeout: timeouts.connectionMs, socketTimeout: timeouts.idleMs },
    requestChecksumCalculation: checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
    responseChecksumValidation: checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
  };
  return new S3Client(config);
}

/** Stores backups under an S3 prefix with multipart uploads, encrypted server-side. */
export class S3Target implements Target {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly prefix: string;
  readonly sse: Sse | 'bucket-default';
  private readonly kmsKeyId: string | undefined;
  private readonly client: S3Client;
  private readonly endpoint: string;

  constructor(url: string, options: S3TargetOptions = {}) {
    ({ bucket: this.bucket, prefix: this.prefix } = parseS3Url(url));
    this.sse = options.sse ?? 'bucket-default';
    this.kmsKeyId = options.kmsKeyId;
    if (this.kmsKeyId && this.sse !== 'aws:kms') {
      throw new ConfigError((w) => `${w.option('kmsKeyId')} needs ${w.setting('sse', 'aws:kms')}`, {
        hint: (w) => `add ${w.setting('sse', 'aws:kms')} or drop ${w.option('kmsKeyId')}`,
      });
    }
    const settings = options.settings ?? defaultSettings();
    this.client = options.client ?? createS3Client({ checksums: options.checksums, settings });
    // Shown in messages: an endpoint URL may carry credentials.
    this.endpoint = settings.s3.endpoint ? redactLocation(settings.s3.endpoint) : 'the AWS S3 endpoint';
  }

  get url(): string {
    return `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
  }

  objectKey(key: string): string {
    assertSafeKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  locate(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async preflight(options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: options.signal });
    } catch (error) {
      throw this.storageError('checking bucket', `s3://${this.bucket}`, error);
    }
  }

  async put(key: string, body: Readable, options: PutOptions): Promise<StoredObject> {
    let size = 0;
    const counted = Readable.from(
      (async function* () {
        for await (const chunk of body) {
          size += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      })(),
      { objectMode: false },
    );
    const upload = new Upload({
      client: this.client,
      partSize: partSizeFor(options.expectedSizeBytes),
      queueSize: UPLOAD_QUEUE_SIZE,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: counted,
        ContentType: options.contentType,
        Metadata: options.metadata,
        StorageClass: options.storageClass,
        ServerSideEncryption: this.sse === 'bucket-default' ? undefined : this.sse,
        SSEKMSKeyId: this.kmsKeyId,
        // The guard against overwriting, with no request before the upload: S3 refuses the
        // write (412) if the key exists, and the upload is aborted. A server that ignores the
        // condition cannot refuse; runBackup has checked its keys are free before it writes.
        IfNoneMatch: '*',
      },
    });
    // A body that fails (a failed dump, a cancelled run) ends the upload, which aborts itself once
    // its parts in flight end; if S3 has stopped answering they do not, and put stops waiting.
    let grace: NodeJS.Timeout | undefined;
    const onBodyFailed = () => {
      grace ??= setTimeout(() => void upload.abort(), UPLOAD_ABORT_GRACE_MS);
    };
    body.once('error', onBodyFailed);
    body.once('close', () => !body.readableEnded && onBodyFailed());
    let applied: string | undefined;
    let appliedKey: string | undefined;
    try {
      ({ ServerSideEncryption: applied, SSEKMSKeyId: appliedKey } = await upload.done());
    } catch (error) {
      counted.destroy();
      body.destroy();
      // The body's own error (a failed dump) explains more than the aborted upload; but a body
      // destroyed because the upload failed says only "aborted", and S3's error explains.
      throw firstCause(body.errored, this.storageError('uploading', this.locate(key), error));
    } finally {
      clearTimeout(grace);
    }
    // What was sent, not read back: seal reads the stored object once, where a backup needs it. The
    // encryption is S3's answer to the write itself, the one word on what the bucket's default chose.
    if (applied === 'aws:kms') return { key, size, sse: applied, kmsKeyId: appliedKey };
    // No key for what S3 did not say: the contract's put and stat describe an object alike.
    return applied === 'AES256' ? { key, size, sse: applied } : { key, size };
  }

  async seal(key: string, stored: { size: number; sha256: string }): Promise<void> {
    const found = await this.stat(key);
    if (found?.size !== stored.size) {
      throw new IntegrityError(`${this.locate(key)} holds ${found?.size ?? 'no'} bytes but ${stored.size} were sent`);
    }
    try {
      await this.client.send(
        new PutObjectTaggingCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Tagging: { TagSet: [{ Key: 'sha256', Value: stored.sha256 }] },
        }),
      );
    } catch (error) {
      throw this.storageError('tagging', this.locate(key), error);
    }
  }

  async get(key: string): Promise<Readable> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      if (!(result.Body instanceof Readable)) throw new Error('response has no body stream');
      return result.Body;
    } catch (error) {
      throw this.storageError('reading', this.locate(key), error);
    }
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return {
        key,
        size: head.ContentLength ?? 0,
        modified: head.LastModified,
        // Present only for a locked object, and only to a caller allowed s3:GetObjectRetention.
        ...(head.ObjectLockRetainUntilDate ? { retainUntil: head.ObjectLockRetainUntilDate } : {}),
      };
    } catch (error) {
      const failure = this.storageError('reading', this.locate(key), error);
      if (failure instanceof StorageError && failure.notFound) return undefined;
      throw failure;
    }
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const full = this.prefix ? `${this.prefix}/${prefix}` : prefix;
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    try {
      for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: full })) {
        for (const object of page.Contents ?? []) {
          if (object.Key) yield { key: object.Key.slice(strip), size: object.Size ?? 0, modified: object.LastModified };
        }
      }
    } catch (error) {
      throw this.storageError('listing', `s3://${this.bucket}/${full}`, error);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    } catch (error) {
      throw this.storageError('deleting', this.locate(key), error);
    }
  }

  /** Turns an SDK error into one line that says what failed and what to do about it. */
  private storageError(operation: string, subject: string, error: unknown): Error {
    const e = error as {
      name?: string;
      code?: string;
      message?: string;
      $metadata?: { httpStatusCode?: number; attempts?: number };
    };
    const status = e.$metadata?.httpStatusCode;
    const name = e.name ?? '';
    const network = networkCode(error);
    if (name === 'NoSuchBucket' || (status === 404 && operation === 'checking bucket')) {
      return new StorageError(`${operation} ${subject} failed: bucket "${this.bucket}" does not exist`, {
        hint: (w) => `create the bucket or fix the bucket name in ${w.option('target')}`,
        cause: error,
        // Listing a target that does not exist is "not found" (the contract); reading a key in it is not.
        notFound: operation === 'listing',
      });
    }
    if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
      return new StorageError(`${subject} does not exist`, { notFound: true, cause: error });
    }
    if (name === 'PreconditionFailed' || status === 412) {
      return new StorageError(`${subject} already exists; backups are never overwritten`, { cause: error });
    }
    if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(e.message ?? '')) {
      return new ConfigError(`${operation} ${subject} failed: no AWS credentials found`, {
        hint: 'set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
        cause: error,
      });
    }
    if (/Region is missing/i.test(e.message ?? '')) {
      return new ConfigError(`${operation} ${subject} failed: no AWS region configured`, {
        hint: 'set AWS_REGION (e.g. AWS_REGION=eu-west-1)',
        cause: error,
      });
    }
    if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden'].includes(name) || status === 403) {
      return new StorageError(`${operation} ${subject} failed: access denied (${name || status})`, {
        hint: 'check the AWS credentials and that their policy allows this on the bucket',
        cause: error,
      });
    }
    if (network === 'TimeoutError') {
      const attempts = e.$metadata?.attempts;
      return new StorageError(
        `${operation} ${subject} failed: ${this.endpoint} stopped answering (${causeMessage(error)}${attempts ? `, ${attempts} attempts` : ''})`,
        { hint: 'check the endpoint and the network, and retry', cause: error },
      );
    }
    if (network) {
      return new StorageError(`${operation} ${subject} failed: cannot reach ${this.endpoint} (${network})`, {
        hint: 'check AWS_ENDPOINT_URL_S3 / AWS_REGION and the network',
        cause: error,
      });
    }
    return new StorageError(`${operation} ${subject} failed: ${name ? `${name}: ` : ''}${e.message ?? String(error)}`, {
      cause: error,
    });
  }
}

/** The innermost message of an error chain: what went wrong first. */
function causeMessage(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  for (let e = (error as { cause?: unknown }).cause, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    message = e.message;
  }
  // The SDK's own wording, without its package name and its advice on how to configure it.
  return message
    .replace(/^@smithy\/node-http-handler - /, '')
    .replace(/\s*\(configured by [^)]*\)|\s*\(service default[^)]*\)|\.$/g, '');
}

function networkCode(error: unknown): string | undefined {
  const codes = ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EHOSTUNREACH', 'EAI_AGAIN', 'TimeoutError'];
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: string }).code ?? (e as { name?: string }).name;
    if (code && codes.includes(code)) return code;
    if (e instanceof AggregateError) return networkCode(e.errors[0]);
  }
  return undefined;
}
