import type { Readable } from 'node:stream';
import { isCorruptData } from '../compression/compression.js';
import { IntegrityError } from '../errors.js';
import type { FetchedBackup } from './destination.js';

/**
 * Reads a backup whole into `consume` (pg_restore, psql, a file beside the destination) and resolves
 * only once both `consume` succeeded and every stored byte matched the manifest: the verdict a
 * destination needs before it replaces anything. When `consume` fails, the stored bytes are judged
 * (read again whole) before its complaint is believed: corrupt bytes near the start make pg_restore
 * fail first, and the user must read that the backup is corrupt, not that pg_restore failed.
 */
export async function readWholeBackup<T>(
  backup: FetchedBackup,
  signal: AbortSignal | undefined,
  consume: (archive: Readable) => Promise<T>,
): Promise<T> {
  const opened = backup.open({ whole: true, signal });
  let result: T;
  try {
    result = await consume(opened.archive);
  } catch (error) {
    opened.archive.destroy();
    if (signal?.aborted) throw signal.reason;
    throw await judged(backup, signal, error);
  }
  // Whatever `consume` made of the archive, it stands only if the archive was the backup's.
  await opened.verdict;
  return result;
}

/**
 * Reads only the head of a backup (an archive's table of contents): `consume` is given the stream
 * and destroys or abandons it when done; the download stops there. Resolves with `consume`'s result
 * and the stored bytes the read cost.
 */
export async function readBackupHead<T>(
  backup: FetchedBackup,
  signal: AbortSignal | undefined,
  consume: (archive: Readable) => Promise<T>,
): Promise<{ result: T; storedBytes: number }> {
  const opened = backup.open({ signal });
  try {
    const result = await consume(opened.archive);
    return { result, storedBytes: opened.storedRead() };
  } catch (error) {
    opened.archive.destroy();
    if (signal?.aborted) throw signal.reason;
    throw await judged(backup, signal, error);
  } finally {
    opened.archive.destroy();
  }
}

/**
 * The error a failed reader of `backup` ends with: the stored bytes' own IntegrityError when they
 * do not match the manifest (read again whole to know), else the reader's.
 */
export async function judged(backup: FetchedBackup, signal: AbortSignal | undefined, error: unknown): Promise<unknown> {
  if (error instanceof IntegrityError) return error;
  const corrupt = await backup.corruption(signal);
  if (corrupt) return corrupt;
  if (isCorruptData(error)) return new IntegrityError(`the backup cannot be decompressed (${(error as Error).message})`);
  return error;
}
