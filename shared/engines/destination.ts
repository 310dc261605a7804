import type { Readable } from 'node:stream';
import type { Check } from './compare-row-counts.js';
import type { Compression } from '../compression/compression.js';
import type { Manifest } from '../manifest.js';
import type { Settings } from '../settings.js';

/** What a restore would replace, shown before the user confirms. */
export interface DestinationState {
  readonly exists: boolean;
  /** Bytes on disk, when it exists. */
  readonly sizeBytes?: number;
  /** User tables in it. */
  readonly tables: number;
  /** Whether any table holds rows: a database with data gets a safety backup first. */
  readonly hasData: boolean;
}

/** The outcome of one check after a restore. */
export type RestoreCheck = Check;

/** What a restore did. */
export interface RestoreOutcome {
  readonly tables: number;
  readonly rows: number;
  readonly checks: readonly RestoreCheck[];
  /** Things the user should know that did not stop the restore (grants left out for missing roles, settings skipped). */
  readonly warnings: readonly string[];
  /** The client program that restored, with its version and path (PostgreSQL: the pg_restore or psql chosen for the server). */
  readonly client?: string;
  /** Where what the restore replaced is kept, when it is (see {@link ReplacedContent}). */
  readonly replaced?: ReplacedContent;
}

/**
 * What a restore replaced, kept beside the destination as the undo: PostgreSQL keeps the replaced
 * database itself under another name; SQLite keeps a copy of the file when another connection
 * committed to it after the safety backup was taken. Either holds every write acknowledged until
 * the swap; neither is ever removed by dbbackup.
 */
export interface ReplacedContent {
  /** The database name (PostgreSQL) or the file's path (SQLite). */
  readonly name: string;
  /** What it is, in a sentence: `the replaced database, with every write made until the swap`. */
  readonly description: string;
  /** How to put it back in the destination's place (SQL or a shell command). */
  readonly undo: string;
  /** How to remove it once the restored content is what you want. */
  readonly drop: string;
}

/**
 * Notices commits by other connections to a destination from a point on, so that a restore can
 * tell whether the safety backup still holds everything it replaces. `changed` is asked while
 * the restore holds the destination's write lock, so no commit can slip in after it answers.
 */
export interface WriteWatch {
  /** Makes now the point writes are noticed from (just before the safety backup is taken). */
  mark(): void;
  /** Whether another connection committed since the point. */
  changed(): boolean;
  close(): void;
}

/**
 * What a PostgreSQL restore does when the backup's grants, default privileges or row-level-security
 * policies name roles that do not exist on the destination server (roles belong to the server, not
 * to a database backup): `refuse` stops before anything is changed and names them; `create-nologin`
 * creates them as roles that cannot log in, then restores everything; `skip-their-grants` restores
 * without only what names them (a grant to one, a policy for only them), keeping every REVOKE and
 * every other grant.
 */
export const MISSING_ROLES_CHOICES = ['refuse', 'create-nologin', 'skip-their-grants'] as const;
export type MissingRolesChoice = (typeof MISSING_ROLES_CHOICES)[number];

/** Options every destination understands. */
export interface RestoreOptions {
  /** PostgreSQL: roles the backup's privileges name that this server lacks. @default 'refuse' */
  readonly missingRoles?: MissingRolesChoice;
  /** PostgreSQL: keep the archive's object owners (they must exist here). @default false: objects belong to the restoring user */
  readonly keepOwner?: boolean;
  readonly settings: Settings;
  readonly onPhase?: (phase: string) => void;
  /**
   * Aborting stops the restore at once, all or nothing as ever: what it started (a child process,
   * a half-made database) is undone, and it fails with the signal's reason.
   */
  readonly signal?: AbortSignal;
  /** Where the destination's previous content was backed up (pre-restore), named by a failure after it was replaced. */
  readonly undoCopy?: string;
  /** When that backup was taken (its manifest's datetime): writes after it are in the replaced content only. */
  readonly undoCopyTakenAt?: string;
  /**
   * What becomes of what the restore replaces (see {@link ReplacedContent}): `keep` it; `drop` it
   * after the swap, asked to, and warn which writes are then in no copy; `discard` it as an earlier
   * restore did, when the user declined any copy of a destination holding data (no safety backup).
   * @default 'keep'
   */
  readonly replacedContent?: 'keep' | 'drop' | 'discard';
  /** The destination's {@link WriteWatch}, when it has one, marked before the safety backup. */
  readonly writesSince?: WriteWatch;
}

/**
 * A database a backup can be restored into.
 *
 * Contract: `restore` is all or nothing. Until it resolves the destination is exactly as it was;
 * if it fails, or the process is killed at any point, the destination is unchanged and a later
 * restore succeeds. After it resolves the destination holds exactly what the backup holds (and
 * whatever another connection wrote since, said in a warning). No write another connection had
 * acknowledged before the swap is lost silently: it is in the safety backup, or in what the
 * restore kept (`RestoreOutcome.replaced`), or, when asked not to keep that, a warning says
 * so (or the user declined any copy of it: `replacedContent`). Should a check fail after the destination was replaced, the `RestoreError`
 * has `destinationChanged` and names `undoCopy`.
 */
export interface Destination {
  readonly kind: 'postgres' | 'sqlite';
  /** What it is called in messages, before its name: `database`, `SQLite database`. */
  readonly noun: string;
  /** The name a restore's confirmation must repeat: the database name, or the SQLite file's name. */
  readonly name: string;
  /** Where it is, without secrets: `postgres://user@host:5432/db` or the file path. */
  readonly description: string;
  /** The URL to back it up from (with its password: never shown). */
  readonly sourceUrl: string;
  /** `signal`, the run's stop: aborted, a wait for another connection's lock ends at once. */
  inspect(signal?: AbortSignal): Promise<DestinationState>;
  /** Refuses what `restore` would refuse for this backup (missing roles), before a safety backup or a prompt. */
  preflight?(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<void>;
  /**
   * Starts noticing other connections' commits (SQLite, which replaces content in place): opened
   * before the destination is inspected, marked again before the safety backup, closed by the caller.
   */
  watchWrites?(): WriteWatch;
  restore(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<RestoreOutcome>;
}

/**
 * A stored backup, read as a stream as often as needed and never copied to disk: each `open` starts
 * a download → SHA-256 → decompressor pass. Its size was compared with the manifest when it was
 * found; its SHA-256 is known only once a whole read has ended, so a destination must not replace
 * anything before that read's `verdict` (see `readWholeBackup`).
 */
export interface FetchedBackup {
  readonly format: string;
  readonly compression: Compression;
  /** The stored size: the manifest's, which the stored object matches. */
  readonly storedBytes: number;
  /** True when size and SHA-256 are compared with a manifest. */
  readonly verified: boolean;
  /** The decompressed bytes of the last whole read that matched the manifest (0 before one). */
  readonly archiveBytes: number;
  /** A run temp dir for small files (pg_restore's lists), never for the archive; removed by `cleanup`. */
  readonly scratchDir: string;
  /**
   * Opens the decompressed archive (custom dump, SQL script or SQLite file). Read to its end, the stream
   * ends only if the stored bytes match the manifest, else it errors with the `IntegrityError`. A reader
   * that needs only the archive's head (its table of contents) destroys the stream: the download stops.
   */
  open(options?: OpenBackupOptions): OpenedBackup;
  /** Re-reads the stored bytes whole: the `IntegrityError` they earn, if any (why a reader of them failed), else undefined. */
  corruption(signal?: AbortSignal): Promise<Error | undefined>;
  cleanup(): Promise<void>;
}

/** How a backup is opened. */
export interface OpenBackupOptions {
  /** A whole read, the one that restores: it reports progress and passes the crash-test pause point. */
  readonly whole?: boolean;
  readonly signal?: AbortSignal;
}

/** One read of a backup. */
export interface OpenedBackup {
  readonly archive: Readable;
  /** Resolves once every stored byte was read and matched the manifest; rejects otherwise. Observed by `readWholeBackup`. */
  readonly verdict: Promise<{ readonly storedBytes: number; readonly archiveBytes: number }>;
  /** Stored bytes read so far (what a partial read cost). */
  storedRead(): number;
}

/**
 * A new, empty destination made for one restore drill, on a server (PostgreSQL) or in a directory
 * (SQLite) the drill may use: its name is free when it is made, and `remove` takes away whatever
 * a restore into it left, whether the restore succeeded, failed or was stopped.
 */
export interface ScratchDestination {
  /** The URL to restore into (with its password: never shown). */
  readonly url: string;
  /** The name a restore's confirmation repeats. */
  readonly name: string;
  /** Where it is, without secrets. */
  readonly description: string;
  /** What making it did besides, for the drill's warnings: what killed drills had left and was removed. */
  readonly notes?: readonly string[];
  /** Removes it and what a restore into it left; idempotent, never throws on what is already gone. */
  remove(): Promise<void>;
}

/** Where a drill makes its scratch destination: a server URL (PostgreSQL) or a directory (SQLite), or the engine's default. */
export interface ScratchOptions {
  /** PostgreSQL: the server, as a URL without a database (or with a maintenance one); SQLite: a directory. */
  readonly into?: string;
  /** The database the drilled backup is of, part of the scratch name so that a person seeing it knows what it is. */
  readonly database: string;
  readonly settings: Settings;
  readonly now: Date;
}
