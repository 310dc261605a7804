/**
 * The error tree every front end maps to exit codes and messages.
 *
 * Each error carries a `hint`: the next step for the person reading it. Messages name the
 * operation, the subject and the reason, never a secret (callers redact before constructing).
 */
export abstract class DbBackupError extends Error {
  /** The process exit code this error maps to on the CLI. */
  abstract readonly exitCode: 1 | 2 | 3;
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Bad usage or configuration: a URL, an option, a missing file the user named. Exit 2. */
export class ConfigError extends DbBackupError {
  readonly exitCode = 2 as const;
}

/** Reading the source database failed: connection, permissions, the dump process. Exit 1. */
export class DumpError extends DbBackupError {
  readonly exitCode = 1 as const;
}

/** Writing to or reading from a target failed. Exit 1. */
export class StorageError extends DbBackupError {
  readonly exitCode = 1 as const;
  /** True when the object or backup asked for does not exist. */
  readonly notFound: boolean;

  constructor(message: string, options: { hint?: string; cause?: unknown; notFound?: boolean } = {}) {
    super(message, options);
    this.notFound = options.notFound ?? false;
  }
}

/** Stored bytes do not match their manifest, or the archive inside is unreadable. Exit 3. */
export class IntegrityError extends DbBackupError {
  readonly exitCode = 3 as const;
}

/** Formats an error as the one line a user sees: message, then the hint. */
export function formatErrorLine(error: unknown): string {
  if (error instanceof DbBackupError) {
    return error.hint ? `${error.message}. ${error.hint}` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Maps any error to the CLI's exit code: 1 unless it is one of ours that says otherwise. */
export function exitCodeOf(error: unknown): 1 | 2 | 3 {
  return error instanceof DbBackupError ? error.exitCode : 1;
}

/** Restoring failed; the destination was left as it was. Exit 1. */
export class RestoreError extends DbBackupError {
  readonly exitCode = 1 as const;
}
