import type { BackupProgress } from '../shared/backup/run-backup.js';
import type { ReadProgress } from '../shared/pipeline/read-progress.js';
import { formatBytes, formatDuration } from './format-units.js';

/**
 * Draws backup progress on one line of a terminal (stderr): bytes, rate, elapsed time, and a
 * bar when the total is known; a restore's or a verify's read the same way, with its time left. Draws nothing when stderr is not a TTY, so logs stay clean.
 */
export class ProgressLine {
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(progress: BackupProgress | ReadProgress): void {
    if (!this.enabled) return;
    const columns = this.stream.columns ?? 80;
    const line = 'sourceBytes' in progress ? describe(progress, columns) : describeRead(progress, columns);
    this.stream.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }

  clear(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

/** `[######......]  42%  12.3 MB of 29.1 MB read → 80.0 MB restored  4.10 MB/s  about 4 s left  3 s` */
export function describeRead(p: ReadProgress, columns: number): string {
  const elapsed = formatDuration(p.elapsedMs);
  const rate = p.elapsedMs > 0 ? (p.storedBytes / p.elapsedMs) * 1000 : 0;
  const done = p.phase === 'restoring' ? 'restored' : 'checked';
  const total = p.totalStoredBytes ? ` of ${formatBytes(p.totalStoredBytes)}` : '';
  const left =
    p.totalStoredBytes && rate > 0 ? `  about ${formatDuration(((p.totalStoredBytes - p.storedBytes) / rate) * 1000)} left` : '';
  const text = `${formatBytes(p.storedBytes)}${total} read → ${formatBytes(p.archiveBytes)} ${done}  ${formatBytes(rate)}/s${left}  ${elapsed}`;
  if (!p.totalStoredBytes) return text.slice(0, columns - 1);
  const fraction = Math.min(1, p.storedBytes / p.totalStoredBytes);
  const width = Math.max(10, Math.min(30, columns - text.length - 10));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${text}`.slice(
    0,
    columns - 1,
  );
}

function describe(p: BackupProgress, columns: number): string {
  const elapsed = formatDuration(p.elapsedMs);
  if (p.phase === 'probing') return `connecting… ${elapsed}`;
  if (p.phase === 'snapshotting') return `taking a consistent snapshot… ${elapsed}`;
  if (p.phase === 'committing') return `confirming and writing the manifest… ${elapsed}`;
  const rate = p.elapsedMs > 0 ? `${formatBytes((p.sourceBytes / p.elapsedMs) * 1000)}/s` : '';
  const text = `${formatBytes(p.sourceBytes)} read → ${formatBytes(p.storedBytes)} stored  ${rate}  ${elapsed}`;
  if (!p.totalSourceBytes) {
    const hint = p.databaseSizeBytes ? `  (database ${formatBytes(p.databaseSizeBytes)} on disk)` : '';
    return (text + hint).slice(0, columns - 1);
  }
  const fraction = Math.min(1, p.sourceBytes / p.totalSourceBytes);
  const width = Math.max(10, Math.min(30, columns - text.length - 10));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${text}`.slice(
    0,
    columns - 1,
  );
}
