/** What a read of a stored backup reports, a few times a second: the shape of a backup's progress, read the other way. */
export interface ReadProgress {
  /** `restoring`: download → SHA-256 → decompress → pg_restore, psql or the SQLite file; `verifying`: the same into a content check. */
  readonly phase: 'restoring' | 'verifying';
  /** Stored (compressed) bytes read so far. */
  readonly storedBytes: number;
  /** The stored size (the manifest's, or the object's): what `storedBytes` reaches at the end. */
  readonly totalStoredBytes?: number;
  /** Decompressed archive bytes handed on so far. */
  readonly archiveBytes: number;
  readonly elapsedMs: number;
}

/** How often a read reports its progress. */
export const READ_PROGRESS_INTERVAL_MS = 200;

/**
 * Reports `sample()` every {@link READ_PROGRESS_INTERVAL_MS} until the returned function is called,
 * which reports once more (the final numbers) and stops.
 */
export function reportReadProgress(
  phase: ReadProgress['phase'],
  sample: () => { storedBytes: number; archiveBytes: number },
  totalStoredBytes: number | undefined,
  onProgress: ((progress: ReadProgress) => void) | undefined,
): () => void {
  if (!onProgress) return () => {};
  const started = Date.now();
  const report = () => onProgress({ phase, ...sample(), totalStoredBytes, elapsedMs: Date.now() - started });
  const ticker = setInterval(report, READ_PROGRESS_INTERVAL_MS);
  ticker.unref();
  return () => {
    clearInterval(ticker);
    report();
  };
}
