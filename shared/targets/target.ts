import type { Readable } from 'node:stream';

/** S3 storage classes a backup can be written with. */
export const STORAGE_CLASSES = [
  'STANDARD',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** Server-side encryption modes for S3; `none` is what a directory target reports. */
export type Sse = 'AES256' | 'aws:kms';

/**
 * The encryption a manifest records: what was asked for or what the store said it applied;
 * `bucket-default` when none was asked and the store did not say (an S3-compatible server).
 */
export type RecordedSse = Sse | 'none' | 'bucket-default';

/** How an object is written. */
export interface PutOptions {
  readonly contentType: string;
  /** Small string metadata known before the first byte (S3 user metadata). */
  readonly metadata?: Record<string, string>;
  /** Upper bound of the body's size, when known: S3 sizes its multipart parts from it. */
  readonly expectedSizeBytes?: number;
  readonly storageClass?: StorageClass;
}

/** An object as listed or stat'ed: its key relative to the target root and its size. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  /** `put` only: the encryption the store says it applied, when it says (S3's response header). */
  readonly sse?: Sse;
  /** `put` only: the KMS key the store says it used, with `sse: 'aws:kms'`. */
  readonly kmsKeyId?: string;
  /** `list` and `stat`: when the object was last written, when the store says. */
  readonly modified?: Date;
  /**
   * `stat` only: until when Object Lock keeps the object from deletion (S3's retain-until date,
   * given to a caller allowed s3:GetObjectRetention); absent when nothing holds it (a directory).
   */
  readonly retainUntil?: Date;
}

/**
 * Where backups are stored: a directory or an S3 prefix. Keys are `/`-separated and relative
 * to the target's root (the directory, or the URL's prefix).
 *
 * Contract, which every implementation passes (test/integration/target-contract):
 * - `put` is atomic and never overwrites: on success the whole object exists; on any failure,
 *   including an error from `body`, nothing exists at `key` and no partial upload remains. An
 *   existing `key` fails with a StorageError. The write itself is the guard (S3 `If-None-Match: *`,
 *   a directory's `link()`), so no check goes before it and no second writer can slip in; an
 *   S3-compatible server that ignores `If-None-Match` cannot refuse, so a caller that may meet
 *   an existing key `stat`s it first, as runBackup does when it chooses one.
 * - `put` resolves with the number of bytes it sent and does not read the object back: `seal`
 *   is the one confirmation of what was stored.
 * - `get` of a missing key rejects with a StorageError whose `notFound` is true.
 * - `stat` returns undefined for a missing key; it says `retainUntil` when a lock holds the object.
 * - `list` yields every object under a key prefix, in no particular order, and never
 *   in-progress uploads. Listing a target that does not exist (no such directory, no such
 *   bucket) rejects with a StorageError whose `notFound` is true; an empty one yields nothing.
 * - `delete` is idempotent: deleting a missing key succeeds.
 */
export interface Target {
  readonly kind: 'file' | 's3';
  /** The target as shown to users and written to manifests (no credentials). */
  readonly url: string;
  /**
   * Server-side encryption this target asks for (`none` for a directory, `bucket-default` for an
   * S3 target that asks for none and leaves it to the bucket's default encryption).
   */
  readonly sse: RecordedSse;
  /**
   * Checks, before any dump starts, that the target exists and can be written. Aborting `signal`
   * abandons the check (its request), which then fails.
   */
  preflight(options?: { signal?: AbortSignal }): Promise<void>;
  put(key: string, body: Readable, options: PutOptions): Promise<StoredObject>;
  /**
   * Reads a stored object's size once and confirms it is the size that was sent, and records its
   * SHA-256 where the target can (an S3 object tag: S3 metadata is fixed when the upload starts,
   * before the hash is known). Fails with an IntegrityError on a size mismatch.
   */
  seal(key: string, stored: { size: number; sha256: string }): Promise<void>;
  get(key: string): Promise<Readable>;
  stat(key: string): Promise<StoredObject | undefined>;
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(key: string): Promise<void>;
  /** The full location of a key, e.g. `s3://bucket/prefix/key` or `/abs/dir/key`. */
  locate(key: string): string;
  /** The key as the storage itself names it (S3: with the URL's prefix; a directory: the relative path). */
  objectKey(key: string): string;
}

/** Rejects keys that could escape the target root or are empty. */
export function assertSafeKey(key: string): void {
  const parts = key.split('/');
  if (key.length === 0 || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new Error(`invalid object key "${key}"`);
  }
}

/** Rejects key prefixes that could escape the target root: `''`, `a/`, `a/b` pass; `../`, `a/./b`, `a//` do not. */
export function assertSafePrefix(prefix: string): void {
  const parts = prefix.split('/');
  if (parts.slice(0, -1).some((p) => p === '' || p === '.' || p === '..') || ['.', '..'].includes(parts.at(-1) as string)) {
    throw new Error(`invalid key prefix "${prefix}"`);
  }
}
