import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecompressor, isCorruptData } from '../compression/compression.js';
import { formatOf, inferFromName } from '../engines/registry.js';
import { IntegrityError } from '../errors.js';
import type { LocatedBackup } from './locate-backup.js';
import { pausePoint } from '../pipeline/pause-point.js';
import { Meter } from '../pipeline/meter.js';
import { makeRunTempDir } from '../pipeline/run-temp-dir.js';
import type { Settings } from '../settings.js';
import type { FetchedBackup } from '../engines/destination.js';

export type { FetchedBackup } from '../engines/destination.js';

/**
 * Downloads a backup to a temp file while hashing and decompressing it, then compares its size
 * and SHA-256 with the manifest. A mismatch is an IntegrityError naming the corrupt backup and
 * the next older one; nothing outside the temp dir has been touched by then. pg_restore wants a
 * seekable file anyway (and parallel restore needs one), hence the temp file. Aborting `signal`
 * stops the download and removes the temp file.
 */
export async function fetchBackup(located: LocatedBackup, settings: Settings, signal?: AbortSignal): Promise<FetchedBackup> {
  const { format, compression } = located.manifest ?? inferFromName(located.fileName);
  const dir = await makeRunTempDir(settings.tmpDir, 'restore');
  const cleanup = () => fs.rm(dir, { recursive: true, force: true });
  const file = join(dir, `restore${formatOf(format).extension}`);
  const meter = new Meter({ sha256: true });
  const archive = new Meter();
  let first = true;
  const watch = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (!first) return callback(null, chunk);
      first = false;
      pausePoint('download', settings).then(() => callback(null, chunk), callback);
    },
  });
  try {
    try {
      await pipeline(
        await located.target.get(located.key),
        meter,
        watch,
        createDecompressor(compression),
        archive,
        createWriteStream(file),
        { signal },
      );
    } catch (error) {
      // Stopped: the reason it was stopped for, not the pipeline's "aborted".
      if (signal?.aborted) throw signal.reason;
      if (!isCorruptData(error) || error instanceof IntegrityError) throw error;
      throw new IntegrityError(`it cannot be decompressed (${(error as Error).message})`);
    }
    const manifest = located.manifest;
    if (manifest && (meter.bytes !== manifest.size_bytes || meter.sha256() !== manifest.hash)) {
      throw new IntegrityError(
        meter.bytes !== manifest.size_bytes
          ? `it holds ${meter.bytes} bytes, the manifest says ${manifest.size_bytes}`
          : `its SHA-256 is ${meter.sha256()}, the manifest says ${manifest.hash}`,
      );
    }
    return {
      file,
      format,
      compression,
      storedBytes: meter.bytes,
      archiveBytes: archive.bytes,
      verified: manifest !== undefined,
      cleanup,
    };
  } catch (error) {
    await cleanup();
    if (error instanceof IntegrityError) {
      const older = located.older?.manifest;
      throw new IntegrityError(
        `backup ${located.target.locate(located.key)} is corrupt: ${error.message}; the destination was not touched`,
        {
          hint: (w) =>
            older
              ? `Do not use this backup. The next older backup is ${older.backup_file} (${older.datetime}): restore it with ${w.setting('file', older.backup_file)}.`
              : 'Do not use this backup.',
          cause: error,
        },
      );
    }
    throw error;
  }
}
