import { createHash } from 'node:crypto';
import type { Compression } from '../compression/compression.js';
import { COMPRESSION_SUFFIX } from '../compression/compression.js';
import type { DumpFormat } from '../engines/engine.js';
import { formatOf } from '../engines/registry.js';

/** `YYYYMMDD_HHMMSS` in UTC, the timestamp in backup file names and manifests. */
export function formatTimestamp(date: Date): string {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

/** The longest key name: a file name holding one, the timestamp, run id and extensions stays within the 255 bytes file systems allow. */
const MAX_KEY_NAME = 200;

/**
 * A database's name as keys and file names hold it, one for each name (injective), so two
 * databases never share a key prefix: bytes outside `[A-Za-z0-9._-]` are percent-encoded as
 * UTF-8 (`sales eu` → `sales%20eu`, `café` → `caf%C3%A9`, `%` → `%25`), and so is a leading
 * `.` (no hidden files, no `.` or `..` path segments). `decodeURIComponent` reads it back.
 *
 * A name that is already safe is its own key name, which is how older versions, which replaced
 * every other character with `_` (`keySafeName` in engines/engine.ts), wrote it: their backups of such names
 * are where this version looks. Backups they wrote of other names stay under the sanitised name,
 * with it in their manifest, and are listed and restored under that name.
 *
 * An encoding longer than 200 characters (never a PostgreSQL name, at most 63 bytes: a long
 * SQLite file name) keeps its first 167 characters and adds `~` and 32 hex digits of the name's
 * SHA-256; `~` is never part of an encoding, so these cannot meet a name encoded in full.
 */
export function keyName(database: string): string {
  if (database.length === 0) throw new Error('a database name is never empty');
  const pieces = [...database].map((char, i) =>
    /^[A-Za-z0-9_-]$/.test(char) || (char === '.' && i > 0)
      ? char
      : [...Buffer.from(char, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  const encoded = pieces.join('');
  if (encoded.length <= MAX_KEY_NAME) return encoded;
  let kept = '';
  for (const piece of pieces) {
    if (kept.length + piece.length > MAX_KEY_NAME - 33) break;
    kept += piece;
  }
  return `${kept}~${createHash('sha256').update(database, 'utf8').digest('hex').slice(0, 32)}`;
}

/** Where a backup goes, relative to the target root, and its file name. */
export interface BackupKey {
  readonly key: string;
  readonly fileName: string;
}

/**
 * Builds `<engine>/<name>/<YYYY>/backup_<name>_<YYYYMMDD_HHMMSS>[_<run>][_N]<format's extension>[.gz|.zst]`,
 * `<name>` being the database's {@link keyName}.
 *
 * `run` is the run's own random id: two runs that back up databases of one name in the same
 * second (the same `--name` from two sources) get two keys, whatever the storage honours. The
 * conditional write guards a key only on servers that honour `If-None-Match`, and the existence
 * check before the dump only against runs that have already written. `sequence` > 0 adds `_N`,
 * should a key be taken all the same.
 */
export function buildBackupKey(input: {
  engine: string;
  database: string;
  format: DumpFormat;
  compression: Compression;
  date: Date;
  run?: string;
  sequence?: number;
}): BackupKey {
  const name = keyName(input.database);
  const stamp = formatTimestamp(input.date);
  const run = input.run ? `_${input.run}` : '';
  const seq = input.sequence ? `_${input.sequence}` : '';
  const fileName = `backup_${name}_${stamp}${run}${seq}${formatOf(input.format).extension}${COMPRESSION_SUFFIX[input.compression]}`;
  return { key: `${input.engine}/${name}/${stamp.slice(0, 4)}/${fileName}`, fileName };
}

/** The key prefix of every backup of one database by one engine. */
export function databaseKeyPrefix(engine: string, database: string): string {
  return `${engine}/${keyName(database)}/`;
}

/** The content type a stored backup is labelled with. */
export function contentTypeOf(compression: Compression, format: DumpFormat): string {
  if (compression === 'gzip') return 'application/gzip';
  if (compression === 'zstd') return 'application/zstd';
  return formatOf(format).contentType;
}
