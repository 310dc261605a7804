import { z } from 'zod';
import { COMPRESSIONS } from './compression/compression.js';
import { engineWritesFormat, isDumpFormat, isEngineKind } from './engines/registry.js';
import { STORAGE_CLASSES } from './targets/target.js';

/** The manifest's own format version; readers refuse versions they do not know. */
export const MANIFEST_VERSION = 1;

/**
 * The JSON document stored beside every backup as `<key>.json`. It is written last: a backup
 * exists only when its manifest does. The first seven fields keep the names the team's old
 * Django backup command used.
 */
export const manifestSchema = z
  .object({
    backup_file: z.string().min(1),
    timestamp: z.string().regex(/^\d{8}_\d{6}$/),
    datetime: z.string().datetime(),
    database: z.string().min(1),
    size_bytes: z.number().int().nonnegative(),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
    status: z.literal('completed'),

    manifest_version: z.literal(MANIFEST_VERSION),
    key: z.string().min(1),
    location: z.string().min(1),
    // Checked against the engines this version knows; typed as strings so the manifest's type does
    // not depend on the engines' (which depend on it).
    engine: z.string().refine((v): boolean => isEngineKind(v), 'an engine this version of dbbackup does not know'),
    format: z.string().refine((v): boolean => isDumpFormat(v), 'a format this version of dbbackup does not know'),
    compression: z.enum(COMPRESSIONS),
    compression_level: z.number().int().nullable(),
    /**
     * The program that compressed: `isal-igzip 2.30.0`, `node-zlib-parallel 1.3.1`, `zstd 1.5.7`;
     * absent for none and in manifests written before it was recorded.
     */
    compression_implementation: z.string().min(1).optional(),
    hash_algorithm: z.literal('sha256'),
    source_size_bytes: z.number().int().nonnegative(),
    database_size_bytes: z.number().int().nonnegative().nullable(),
    duration_ms: z.number().int().nonnegative(),
    storage_class: z.enum(STORAGE_CLASSES).nullable(),
    // `bucket-default` (since 0.x of this field's values): none asked, and the store did not say which.
    sse: z.enum(['AES256', 'aws:kms', 'none', 'bucket-default']),
    kms_key_id: z.string().nullable(),
    engine_version: z.record(z.string(), z.string()),
    tool_version: z.string(),
    source: z.string(),
    kind: z.enum(['manual', 'scheduled', 'pre-restore']),
    label: z.string().nullable(),
    tables: z.record(z.string(), z.number().int().nonnegative()),
    tables_estimated: z.array(z.string()),
    /** Tables not counted or not checked, with why (SQLite virtual tables of extensions not loaded); absent before. */
    tables_skipped: z.record(z.string(), z.string()).default({}),
  })
  .refine((m): boolean => engineWritesFormat(m.engine, m.format), {
    message: 'the format is not one its engine writes',
    path: ['format'],
  });

export type Manifest = z.infer<typeof manifestSchema>;

/** Suffix of a manifest's key: the backup's key plus `.json`. */
export const MANIFEST_SUFFIX = '.json';

/** Parses and validates a stored manifest; returns an error message instead of throwing. */
export function parseManifest(text: string): { manifest: Manifest } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { error: `not JSON: ${(error as Error).message}` };
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { error: `${issue?.path.join('.') || 'manifest'}: ${issue?.message}` };
  }
  return { manifest: result.data };
}
