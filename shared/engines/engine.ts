import type { Readable } from 'node:stream';

/** The database engines dbbackup can back up. */
export type EngineKind = 'postgres' | 'sqlite';

/** Dump formats: PostgreSQL custom (pg_restore) or plain SQL; SQLite's is the database file. */
export type DumpFormat = 'custom' | 'plain' | 'sqlite';

/** What a probe learns about a source before anything is dumped. */
export interface SourceInfo {
  readonly engine: EngineKind;
  /** The database's name as used in object keys and manifests (safe characters only). */
  readonly database: string;
  /** Where the source is, for messages and manifests; never contains a password. */
  readonly description: string;
  /** Versions of the server and of the client program that dumps it. */
  readonly engineVersion: Record<string, string>;
  /** Size of the database on disk, when the engine can tell; sizes multipart uploads. */
  readonly databaseSizeBytes?: number;
}

/** Row counts per table, and which of them are estimates rather than exact counts. */
export interface TableCounts {
  readonly tables: Record<string, number>;
  readonly estimated: readonly string[];
}

/** A dump in progress. */
export interface Dump {
  /**
   * The dump's bytes. The stream errors (never ends) if the dump fails at any point, including
   * a non-zero exit of the dump process after its last byte.
   */
  readonly stream: Readable;
  /** The dump format, which decides the stored file's extension. */
  readonly format: DumpFormat;
  /** Exact byte count of the stream, when known in advance (SQLite snapshot). */
  readonly sizeBytes?: number;
  /** Row counts taken for the manifest (restore compares against them). */
  readonly tableCounts?: TableCounts;
  /** Removes anything the dump left behind (the SQLite snapshot). Safe to call more than once. */
  cleanup(): Promise<void>;
}

/**
 * A source database.
 *
 * Contract: `probe()` connects and fails with a ConfigError (bad name, bad password, missing file)
 * or DumpError (unreachable) before any data moves. `dump()` returns a consistent snapshot of the
 * database as it was at one instant, even while the application keeps writing.
 */
export interface Engine {
  readonly kind: EngineKind;
  probe(): Promise<SourceInfo>;
  dump(options: { format?: DumpFormat }): Promise<Dump>;
  /** Releases what `probe` holds open (a snapshot's connection). Safe to call more than once. */
  close(): Promise<void>;
}

/** Makes a database name safe for object keys: anything but `[A-Za-z0-9._-]` becomes `_`. */
export function keySafeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.]+/, '_');
  return safe.length > 0 ? safe.slice(0, 100) : 'db';
}
