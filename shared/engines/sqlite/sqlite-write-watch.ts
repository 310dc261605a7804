import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { ReplacedContent, WriteWatch } from '../destination.js';

/** The file's header as far as a watch needs it: WAL or not (byte 18), and the change counter (bytes 24-27). */
function header(fd: number): { wal: boolean; counter: number } | undefined {
  try {
    const bytes = Buffer.alloc(28);
    if (readSync(fd, bytes, 0, 28, 0) < 28) return undefined;
    return { wal: bytes[18] === 2, counter: bytes.readUInt32BE(24) };
  } catch {
    return undefined;
  }
}

/**
 * Notices commits to a SQLite file by other connections: in WAL mode through `PRAGMA data_version`
 * of a read-only connection of its own (commits do not touch the file's header there), in a
 * rollback-journal mode through the header's change counter, which every commit increments (there
 * the restore's write lock is exclusive, and even a read would wait on it). A file that did not
 * exist at the mark and does now was written by someone else.
 *
 * The file is read through one descriptor, opened first and closed last: closing any descriptor of a
 * file drops every POSIX lock this process holds on it, the restore's write lock included, and SQLite
 * (which keeps its own descriptors open for that reason) would then write without a lock.
 */
export class SqliteWriteWatch implements WriteWatch {
  private readonly existed: boolean;
  private fd: number | undefined;
  private db: Database.Database | undefined;
  private marked: { wal: boolean; counter: number; version?: number } | undefined;

  constructor(private readonly path: string) {
    this.existed = existsSync(path);
    if (this.existed) {
      try {
        this.fd = openSync(path, 'r');
        this.db = new Database(path, { readonly: true, fileMustExist: true });
        this.db.pragma('busy_timeout = 10000');
      } catch {
        this.db = undefined;
      }
    }
    this.mark();
  }

  mark(): void {
    const now = this.header();
    try {
      this.marked = now && { ...now, version: now.wal ? this.dataVersion() : undefined };
    } catch {
      this.marked = undefined;
    }
  }

  /** Unknown counts as changed: a copy too many costs disk, a write lost silently costs data. */
  changed(): boolean {
    if (!this.existed) return existsSync(this.path);
    const now = this.header();
    const then = this.marked;
    if (!now || !then || now.wal !== then.wal) return true;
    if (!now.wal) return now.counter !== then.counter;
    try {
      return this.dataVersion() !== then.version;
    } catch {
      return true;
    }
  }

  /**
   * Copies the database as it stands to `<name>.replaced-<UTC time>` beside it, whole or not at all
   * (a temp file, fsynced, linked to its name without overwriting anything), and says how to put it
   * back. Called while the restore holds the file's write lock and has written nothing yet, so the
   * copy is exactly what the restore replaces: in WAL mode through `VACUUM INTO` (readers may read
   * under that lock), in a rollback-journal mode byte for byte (the lock is exclusive, and the file is
   * all there is).
   */
  keepCopy(at: Date): ReplacedContent {
    const { path } = this;
    // Opened now when the file did not exist at the start; closed, as ever, only by close().
    this.fd ??= openSync(path, 'r');
    const fd = this.fd;
    const dir = dirname(path);
    const name = basename(path);
    const stamp = at.toISOString().replace(/\D/g, '').slice(0, 14);
    // NAME_MAX is 255 bytes: room for `.replaced-<14 digits>-99`.
    const base = `${prefixOfBytes(name, 255 - '.replaced-'.length - 14 - '-99'.length)}.replaced-${stamp}`;
    const tmp = join(dir, `.${prefixOfBytes(name, 200)}.dbbackup-${randomBytes(4).toString('hex')}.tmp`);
    try {
      if (this.header()?.wal) {
        const db = new Database(path, { readonly: true, fileMustExist: true });
        try {
          db.prepare('VACUUM INTO ?').run(tmp);
        } finally {
          db.close();
        }
        syncFile(tmp);
      } else {
        copyFrom(fd, tmp);
      }
      for (let n = 1; ; n++) {
        const kept = join(dir, n === 1 ? base : `${base}-${n}`);
        try {
          linkSync(tmp, kept);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST' && n < 99) continue;
          throw error;
        }
        syncDirectory(dir);
        return {
          name: kept,
          description: `the content of ${path} as the restore replaced it, with every write made to it until the swap`,
          undo: `with the application stopped: sqlite3 ${shellQuote(path)} ${shellQuote(`.restore ${dotArgument(kept)}`)}`,
          drop: `rm ${shellQuote(kept)}`,
        };
      }
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  close(): void {
    // The connection first, then the descriptor: nothing of this process holds a lock on the file by then.
    this.db?.close();
    this.db = undefined;
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private header(): { wal: boolean; counter: number } | undefined {
    return this.fd === undefined ? undefined : header(this.fd);
  }

  private dataVersion(): number {
    if (!this.db) throw new Error('no connection');
    return this.db.pragma('data_version', { simple: true }) as number;
  }
}

/** The longest start of `text` within `bytes` bytes of UTF-8, whole characters only. */
function prefixOfBytes(text: string, bytes: number): string {
  let prefix = '';
  for (const char of text) {
    if (Buffer.byteLength(prefix + char) > bytes) break;
    prefix += char;
  }
  return prefix;
}

/** An argument of a sqlite3 shell dot-command: double-quoted, with C-style escapes. */
const dotArgument = (text: string): string => `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

const shellQuote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

/** Copies the file open as `fd` to a new file `to`, 1 MiB at a time, and fsyncs it. */
function copyFrom(fd: number, to: string): void {
  const out = openSync(to, 'wx');
  try {
    const chunk = Buffer.alloc(1 << 20);
    for (let position = 0; ;) {
      const read = readSync(fd, chunk, 0, chunk.length, position);
      if (read === 0) break;
      for (let written = 0; written < read;) written += writeSync(out, chunk, written, read - written);
      position += read;
    }
    fsyncSync(out);
  } finally {
    closeSync(out);
  }
}

function syncFile(file: string): void {
  const fd = openSync(file, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch {
    // Some filesystems cannot fsync a directory; the link is there all the same.
  } finally {
    closeSync(fd);
  }
}
