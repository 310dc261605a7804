import type { Readable, Writable } from 'node:stream';
import type { Manifest } from '../manifest.js';
import type { ChainProgram, ProgramChain } from '../pipeline/program-chain.js';
import type { Destination, ScratchDestination, ScratchOptions } from './destination.js';
import type { Settings } from '../settings.js';

// The contract speaks of engines and formats by name (strings): the closed lists, EngineKind and
// DumpFormat, are derived from the engines themselves in registry.ts.
export type { DumpFormat, EngineKind } from './registry.js';

/** What a probe learns about a source before anything is dumped. */
export interface SourceInfo {
  /** The engine's kind, as its definition names it. */
  readonly engine: string;
  /**
   * The database's own name, or the label that replaces it, as manifests hold it and users ask
   * for it (`restore --database`); keys hold its `keyName`.
   */
  readonly database: string;
  /** Where the source is, for messages and manifests; never contains a password. */
  readonly description: string;
  /** Versions of the server and of the client program that dumps it. */
  readonly engineVersion: Record<string, string>;
  /** Size of the database on disk, when the engine can tell; sizes multipart uploads. */
  readonly databaseSizeBytes?: number;
}

/** Row counts per table, which of them are estimates rather than exact counts, and what was not counted. */
export interface TableCounts {
  readonly tables: Record<string, number>;
  readonly estimated: readonly string[];
  /**
   * Tables the engine could not count or check, each with why (a SQLite virtual table whose
   * extension is not loaded). Their data is in the backup all the same.
   */
  readonly skipped?: Readonly<Record<string, string>>;
}

/** A dump in progress. */
/** What a dump is asked for. */
export interface DumpOptions {
  /** One of the engine's formats; its default when left out. */
  readonly format?: string;
  /**
   * Programs to run the dump through, each reading the one before it (a byte counter, a
   * compressor). An engine whose dump is a program's output runs them on it directly and says so
   * in `Dump.chain`; another ignores them, and its `stream` is the dump itself.
   */
  readonly through?: readonly ChainProgram[];
}

export interface Dump {
  /**
   * The dump's bytes, or, with `chain`, the last program's output. The stream errors (never ends)
   * if the dump fails at any point, including a non-zero exit of any process after its last byte.
   */
  readonly stream: Readable;
  /** Present when `stream` is the output of the programs asked for (`through`), after the dump's own program. */
  readonly chain?: ProgramChain;
  /** The dump format, which decides the stored file's extension. */
  readonly format: string;
  /** Exact byte count of the stream, when known in advance (SQLite snapshot). */
  readonly sizeBytes?: number;
  /**
   * Row counts for the manifest (restore compares against them), which may still be being taken
   * while the stream flows. Rejects when they could not be taken: the backup then fails, and the
   * stream errors too if it has not ended. Always has a rejection handler, so a run that fails
   * first for another reason may leave it unawaited.
   */
  readonly tableCounts?: Promise<TableCounts>;
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
  readonly kind: string;
  /**
   * The name the source is backed up under (its own name or the label that replaces it), known
   * before any connection, so that a run that fails to reach it can still say which database it was.
   */
  readonly database: string;
  probe(): Promise<SourceInfo>;
  /** Dumps in `format`, one of the engine's declared formats (the caller checks), else its default. */
  dump(options: DumpOptions): Promise<Dump>;
  /**
   * Releases everything the engine holds or is doing: a probe still running ends (failing), its
   * connection, snapshot and lock are released, a dump still running stops. Safe at any time,
   * in any order with the other calls, and more than once; resolves once all is released.
   */
  close(): Promise<void>;
}

/** A dump format an engine writes, and how its archive is named and labelled. */
export interface FormatDefinition {
  readonly name: string;
  /** The archive's file extension, before any compression suffix: `.dump`. */
  readonly extension: string;
  /** Other extensions a backup of this format may carry when restored from a path (`.sqlite`). */
  readonly otherExtensions?: readonly string[];
  /** The content type of an uncompressed archive. */
  readonly contentType: string;
}

/** Options passed to whichever engine a source URL picks. */
export interface OpenEngineOptions {
  /** Overrides the database name used in keys and manifests. */
  readonly label?: string;
  /** How long to wait for a lock another session holds before failing (engines that take locks). */
  readonly lockWaitSeconds?: number;
  readonly settings: Settings;
}

/**
 * Reads a decompressed archive to the end and judges its content (verify): the sink errors, or
 * `finish` rejects, with an IntegrityError when the archive is damaged or incomplete.
 */
export interface ContentCheck {
  readonly sink: Writable;
  finish(): Promise<void>;
  /** Removes anything the check wrote (a temp file). Safe to call more than once. */
  cleanup(): Promise<void>;
}

/**
 * What an engine declares about itself, so that backup, restore and verify ask the engine
 * instead of testing its kind. One per folder under `engines/`, listed in `registry.ts`.
 * Loading a definition loads no driver: each `open…` imports its engine's code on demand,
 * because start-up time counts for a CLI and a Lambda cold start.
 */
export interface EngineDefinition {
  readonly kind: string;
  /** The engine's name in messages: `PostgreSQL`. */
  readonly title: string;
  /** How URLs that choose this engine begin, lower case: `postgres://`, `sqlite:`. */
  readonly urlPrefixes: readonly string[];
  /** Plain paths (no scheme) this engine claims, by their file name (SQLite's `.db`). */
  readonly pathPattern?: RegExp;
  /** How to write a URL for this engine, for the message that lists them. */
  readonly urlExample: string;
  /**
   * The parameters of its URLs (and connection strings) that hold secrets: their values are
   * never shown, wherever a URL is. @default none
   */
  readonly secretParameters?: readonly string[];
  /** The formats it writes; the first is the default. With one, the format is not a choice. */
  readonly formats: readonly FormatDefinition[];
  /**
   * A phase a backup passes through after probing and before any byte flows (SQLite copies
   * the database to a snapshot file first), shown as progress.
   */
  readonly preparingPhase?: 'snapshotting';
  /**
   * For an engine whose database is a file: the URL of an absolute path, which `openSource` and
   * `openDestination` read back as exactly that path (`%`, `#`, `?` and the rest encoded).
   */
  fileUrl?(path: string): string;
  openSource(url: string, options: OpenEngineOptions): Promise<Engine>;
  openDestination(url: string, settings: Settings): Promise<Destination>;
  /** Makes a new, empty destination for a restore drill, refusing a place it may not use (one line, nothing made). */
  openScratch(options: ScratchOptions): Promise<ScratchDestination>;
  /** The content check verify runs on a decompressed archive of this engine. */
  checkContent(manifest: Manifest, settings: Settings): Promise<ContentCheck>;
}

/**
 * What `Dump.tableCounts` promises of a dump's stream: when the counts fail, a backup without
 * them is no backup, so the stream fails at once with their error (the dump's program stopped)
 * rather than the run finding out at the manifest. A stream already ended or destroyed is left be.
 */
export function failWithCounts(stream: Readable, tableCounts: Promise<TableCounts>): void {
  tableCounts.catch((error: unknown) => {
    if (!stream.readableEnded) stream.destroy(error as Error);
  });
}

/**
 * The name older versions gave a database in keys and manifests: anything but
 * `[A-Za-z0-9._-]` became `_`, so `sales eu` and `sales_eu` shared one. Keys now hold
 * `keyName` (backup/backup-key.ts), one for each name; this one says where an older
 * version put a database's backups.
 */
export function keySafeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[.]+/, '_');
  return safe.length > 0 ? safe.slice(0, 100) : 'db';
}
