import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream';
import { createDecompressor } from '../compression/compression.js';
import { inferFromName } from '../engines/registry.js';
import { IntegrityError } from '../errors.js';
import type { LocatedBackup } from './locate-backup.js';
import { pausePoint } from '../pipeline/pause-point.js';
import { Meter } from '../pipeline/meter.js';
import { makeRunTempDir } from '../pipeline/run-temp-dir.js';
import { type ReadProgress, reportReadProgress } from '../pipeline/read-progress.js';
import type { Settings } from '../settings.js';
import type { FetchedBackup, OpenBackupOptions, OpenedBackup } from '../engines/destination.js';

export type { FetchedBackup } from '../engines/destination.js';

/** How a backup is fetched. */
export interface FetchOptions {
  readonly signal?: AbortSignal;
  /** Told the progress of each whole read (the restore's one pass). */
  readonly onProgress?: (progress: ReadProgress) => void;
}

/**
 * Makes a located backup readable as a stream, without downloading it: its stored size is compared
 * with the manifest now (a truncated or replaced object is refused before anything else), its
 * SHA-256 by every whole read as it ends (see `FetchedBackup`). Nothing of the archive is written
 * to disk: the destination restores from the stream into something it can still throw away.
 * A mismatch is an IntegrityError naming the corrupt backup and the next older one.
 */
export async function fetchBackup(
  located: LocatedBackup,
  settings: Settings,
  options: FetchOptions = {},
): Promise<FetchedBackup> {
  const { format, compression } = located.manifest ?? inferFromName(located.fileName);
  const manifest = located.manifest;
  const { target, key } = located;
  const stat = await target.stat(key);
  if (!stat) throw corrupt(located, new IntegrityError(`${target.locate(key)} is missing`));
  if (manifest && stat.size !== manifest.size_bytes) {
    throw corrupt(located, new IntegrityError(`it holds ${stat.size} bytes, the manifest says ${manifest.size_bytes}`));
  }
  // Only pg_restore's small lists go here; swept by the next run should this one be killed.
  const scratchDir = await makeRunTempDir(settings.tmpDir, 'restore');

  /** The stored bytes' verdict once every one of them passed: undefined when they match the manifest. */
  const mismatch = (bytes: number, sha256: string): IntegrityError | undefined => {
    if (!manifest) return undefined;
    if (bytes !== manifest.size_bytes)
      return new IntegrityError(`it holds ${bytes} bytes, the manifest says ${manifest.size_bytes}`);
    if (sha256 !== manifest.hash) return new IntegrityError(`its SHA-256 is ${sha256}, the manifest says ${manifest.hash}`);
    return undefined;
  };

  let lastArchiveBytes = 0;
  const open = (openOptions: OpenBackupOptions = {}): OpenedBackup => {
    const stored = new Meter({ sha256: true });
    const archive = new Meter();
    const output = new PassThrough();
    let first = true;
    // Checks the stored bytes as they end, before the decompressor's last bytes are passed on: a
    // reader sees the error instead of the end of the archive.
    const judge = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        if (!first || !openOptions.whole) return callback(null, chunk);
        first = false;
        pausePoint('download', settings).then(() => callback(null, chunk), callback);
      },
      flush(callback) {
        const wrong = mismatch(stored.bytes, stored.sha256());
        callback(wrong ? corrupt(located, wrong) : undefined);
      },
    });
    const stopReporting = openOptions.whole
      ? reportReadProgress(
          'restoring',
          () => ({ storedBytes: stored.bytes, archiveBytes: archive.bytes }),
          stat.size,
          options.onProgress,
        )
      : () => {};
    const verdict = new Promise<{ storedBytes: number; archiveBytes: number }>((resolve, reject) => {
      const signal = openOptions.signal ?? options.signal;
      target.get(key).then(
        (body) => {
          pipeline(
            body,
            stored,
            judge,
            createDecompressor(compression, settings, { partial: !openOptions.whole }),
            archive,
            output,
            (error) => {
              stopReporting();
              if (error) {
                // Stopped: the reason it was stopped for, not the pipeline's "aborted".
                const reason = signal?.aborted ? (signal.reason as Error) : error;
                if (!output.destroyed) output.destroy(reason);
                reject(reason);
              } else {
                if (openOptions.whole) lastArchiveBytes = archive.bytes;
                resolve({ storedBytes: stored.bytes, archiveBytes: archive.bytes });
              }
            },
          );
          if (signal) {
            const abort = () => output.destroy(signal.reason as Error);
            if (signal.aborted) abort();
            else signal.addEventListener('abort', abort, { once: true });
            output.once('close', () => signal.removeEventListener('abort', abort));
          }
        },
        (error: unknown) => {
          stopReporting();
          output.destroy(error as Error);
          reject(error);
        },
      );
    });
    // A partial read (a head) never settles it as a success; only readWholeBackup looks.
    verdict.catch(() => {});
    return { archive: output, verdict, storedRead: () => stored.bytes };
  };

  return {
    format,
    compression,
    storedBytes: stat.size,
    verified: manifest !== undefined,
    get archiveBytes() {
      return lastArchiveBytes;
    },
    scratchDir,
    open,
    async corruption(signal?: AbortSignal) {
      if (!manifest) return undefined;
      const hash = createHash('sha256');
      let bytes = 0;
      const body = await target.get(key);
      const abort = () => body.destroy(signal?.reason as Error);
      signal?.addEventListener('abort', abort, { once: true });
      try {
        for await (const chunk of body) {
          bytes += (chunk as Buffer).length;
          hash.update(chunk as Buffer);
        }
      } finally {
        signal?.removeEventListener('abort', abort);
      }
      const wrong = mismatch(bytes, hash.digest('hex'));
      return wrong ? corrupt(located, wrong) : undefined;
    },
    cleanup: () => fs.rm(scratchDir, { recursive: true, force: true }),
  };
}

/** The corrupt backup named, with the next older one to restore instead. */
function corrupt(located: LocatedBackup, error: IntegrityError): IntegrityError {
  const older = located.older?.manifest;
  return new IntegrityError(
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
