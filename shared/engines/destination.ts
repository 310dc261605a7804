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
  /** Things the user should know that did not stop the restore (roles missing on this server). */
  readonly warnings: readonly string[];
}

/** Options every destination understands. */
export interface RestoreOptions {
  /** PostgreSQL: keep the archive's object owners (they must exist here). @default false: objects belong to the restoring user */
  readonly keepOwner?: boolean;
  readonly settings: Settings;
  readonly onPhase?: (phase: string) => void;
  /** Where the destination's previous content was backed up (pre-restore), named by a failure after it was replaced. */
  readonly undoCopy?: string;
}

/**
 * A database a backup can be restored into.
 *
 * Contract: `restore` is all or nothing. Until it resolves the destination is exactly as it was;
 * if it fails, or the process is killed at any point, the destination is unchanged and a later
 * restore succeeds. After it resolves the destination holds exactly what the backup holds (and
 * whatever another connection wrote since, said in a warning). Should a check fail after the
 * destination was replaced, the `RestoreError` has `destinationChanged` and names `undoCopy`.
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
  inspect(): Promise<DestinationState>;
  restore(backup: FetchedBackup, manifest: Manifest | undefined, options: RestoreOptions): Promise<RestoreOutcome>;
}

/** A backup downloaded, decompressed and checked against its manifest, in a temp file. */
export interface FetchedBackup {
  /** The decompressed archive (custom dump, SQL script or SQLite file). */
  readonly file: string;
  readonly format: string;
  readonly compression: Compression;
  readonly storedBytes: number;
  readonly archiveBytes: number;
  /** True when size and SHA-256 were compared with a manifest. */
  readonly verified: boolean;
  cleanup(): Promise<void>;
}
