import { createWriteStream, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { HOLDER_TOKEN_PATTERN, holderOfToken, holderState, holderToken } from '../../pipeline/holder.js';
import { RestoreError } from '../../errors.js';
import type { FetchedBackup } from '../destination.js';
import { readWholeBackup } from '../read-backup.js';

/** `.<name>.dbbackup-restore-<holder>-<random>.db`: a restore's download beside its destination. */
const BESIDE = (name: string) =>
  new RegExp(
    `^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.dbbackup-restore-(${HOLDER_TOKEN_PATTERN})-[0-9a-f]{8}\\.db(?:-wal|-shm|-journal)?$`,
  );

/**
 * Removes a downloaded copy and the files SQLite made beside it: a copy of a WAL-mode database opened
 * read-only (the check, the backup API's source) leaves its `-wal` and `-shm`, which a read-only
 * connection cannot remove as it closes.
 */
export async function removeBeside(file: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm', '-journal']) await fs.rm(`${file}${suffix}`, { force: true });
}

/**
 * Downloads a SQLite backup into a file beside `destination` (the same directory, so the swap stays
 * on one file system and the download never lands in the temp dir), fsynced, and resolves with its
 * path once its bytes matched the manifest; on any failure the file is gone. Files left beside it by
 * restores whose process is gone (killed) are removed first.
 */
export async function streamBeside(backup: FetchedBackup, destination: string, signal: AbortSignal | undefined): Promise<string> {
  const dir = dirname(destination);
  const name = basename(destination);
  const pattern = BESIDE(name);
  for (const entry of await fs.readdir(dir).catch(() => [] as string[])) {
    const token = pattern.exec(entry)?.[1];
    if (token && holderState(holderOfToken(token)) === 'gone') await fs.rm(join(dir, entry), { force: true }).catch(() => {});
  }
  const file = join(dir, `.${name}.dbbackup-restore-${holderToken()}-${randomBytes(4).toString('hex')}.db`);
  try {
    await readWholeBackup(backup, signal, async (archive) => {
      await pipeline(archive, createWriteStream(file, { flags: 'wx' }), { signal });
      const handle = await fs.open(file, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    });
    return file;
  } catch (error) {
    await removeBeside(file);
    if (signal?.aborted) throw signal.reason;
    const code = (error as { code?: string }).code;
    if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS' || code === 'EDQUOT') {
      throw new RestoreError(`the backup could not be written beside ${destination}: ${(error as Error).message}`, {
        hint: 'the destination was not changed; free space or permissions in its directory are needed for a copy of the backup',
        cause: error,
      });
    }
    throw error;
  }
}
