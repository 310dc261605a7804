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

/** A read's progress as log fields: bytes, rate and the seconds left at that rate (when the total is known). */
export function readProgressFields(p: ReadProgress): Record<string, number | undefined> {
  const rate = p.elapsedMs > 0 ? (p.storedBytes / p.elapsedMs) * 1000 : undefined;
  return {
    storedBytes: p.storedBytes,
    totalStoredBytes: p.totalStoredBytes,
    archiveBytes: p.archiveBytes,
    bytesPerSecond: rate === undefined ? undefined : Math.round(rate),
    etaSeconds: p.totalStoredBytes && rate ? Math.round((p.totalStoredBytes - p.storedBytes) / rate) : undefined,
  };
}

/** `report`, passed on at most once per `ms` (the first call passes). */
export function throttled<T>(ms: number, report: (value: T) => void): (value: T) => void {
  let last = -Infinity;
  return (value) => {
    if (Date.now() - last < ms) return;
    last = Date.now();
    report(value);
  };
}
