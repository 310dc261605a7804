import { z } from 'zod';
import { COMPRESSIONS } from '../compression/compression.js';
import { DUMP_FORMATS } from '../engines/registry.js';
import { parseOrConfigError } from '../parse-or-config-error.js';
import { STORAGE_CLASSES } from '../targets/target.js';

/** Everything that describes one backup run, as the CLI and the Lambda handler both pass it. */
/** The longest label a backup takes, in characters (UTF-16 units, as the schema counts). */
export const LABEL_MAX_LENGTH = 300;

export const backupOptionsSchema = z.object({
  /** Source database URL: postgres://…, sqlite:///path.db, or a path ending in .db/.sqlite/.sqlite3. */
  source: z.string().min(1),
  /** Where to store: s3://bucket/prefix, file:///dir or a directory path. */
  target: z.string().min(1),
  /** Name used in keys instead of the database's own. */
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'may hold only letters, digits, ".", "_" and "-"')
    .optional(),
  compression: z.enum(COMPRESSIONS).default('gzip'),
  level: z.number().int().optional(),
  /** One of the source engine's formats (PostgreSQL: custom for pg_restore, or plain SQL). @default the engine's first */
  format: z.enum(DUMP_FORMATS).optional(),
  /** S3 only. @default STANDARD (S3's own default) */
  storageClass: z.enum(STORAGE_CLASSES).optional(),
  /** S3 only. @default none asked: the bucket's default encryption */
  sse: z.enum(['AES256', 'aws:kms']).optional(),
  kmsKeyId: z.string().min(1).optional(),
  /** S3 only; see ChecksumMode. */
  s3Checksums: z.enum(['when_supported', 'when_required']).optional(),
  /**
   * How long the dump waits for a table another session has locked (an ALTER TABLE, a VACUUM FULL)
   * before it fails; PostgreSQL only. @default 300 (DEFAULT_LOCK_WAIT_SECONDS)
   */
  lockWaitSeconds: z.number().positive('must be more than 0 seconds').optional(),
  kind: z.enum(['manual', 'scheduled', 'pre-restore']).default('manual'),
  /**
   * A free-form label kept in the manifest (e.g. the schedule tier). Long enough for a pre-restore
   * copy's "before restoring <file name>", a file name being at most 255 bytes.
   */
  label: z.string().max(LABEL_MAX_LENGTH).optional(),
});

export type BackupOptionsInput = z.input<typeof backupOptionsSchema>;
export type BackupOptions = z.output<typeof backupOptionsSchema>;

/** Validates options, failing with a ConfigError that names the field and the value. */
export function parseBackupOptions(input: unknown): BackupOptions {
  return parseOrConfigError(backupOptionsSchema, input);
}
