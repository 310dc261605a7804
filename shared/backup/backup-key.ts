import type { Compression } from '../compression/compression.js';
import { COMPRESSION_SUFFIX } from '../compression/compression.js';
import type { DumpFormat } from '../engines/engine.js';
import { formatOf } from '../engines/registry.js';

/** `YYYYMMDD_HHMMSS` in UTC, the timestamp in backup file names and manifests. */
export function formatTimestamp(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** Where a backup goes, relative to the target root, and its file name. */
export interface BackupKey {
  readonly key: string;
  readonly fileName: string;
}

/**
 * Builds `<engine>/<database>/<YYYY>/backup_<database>_<YYYYMMDD_HHMMSS>[_N]<format's extension>[.gz|.zst]`.
 * `sequence` > 0 adds `_N`, for a second backup of the same database in the same second.
 */
export function buildBackupKey(input: {
  engine: string;
  database: string;
  format: DumpFormat;
  compression: Compression;
  date: Date;
  sequence?: number;
}): BackupKey {
  const stamp = formatTimestamp(input.date);
  const seq = input.sequence ? `_${input.sequence}` : '';
  const fileName = `backup_${input.database}_${stamp}${seq}${formatOf(input.format).extension}${COMPRESSION_SUFFIX[input.compression]}`;
  return { key: `${input.engine}/${input.database}/${stamp.slice(0, 4)}/${fileName}`, fileName };
}

/** The content type a stored backup is labelled with. */
export function contentTypeOf(compression: Compression, format: DumpFormat): string {
  if (compression === 'gzip') return 'application/gzip';
  if (compression === 'zstd') return 'application/zstd';
  return formatOf(format).contentType;
}
