/**
 * The error tree of the core; each front end maps it to its own words and outcome (the CLI to
 * a line on stderr and an exit code, a function to its error message).
 *
 * Each error carries a `hint`: the next step for the person reading it. Messages name the
 * operation, the subject and the reason, never a secret (callers redact before constructing).
 */
export abstract class DbBackupError extends Error {
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Bad usage or configuration: a URL, an option, a missing file the user named. */
export class ConfigError extends DbBackupError {}

/** Reading the source database failed: connection, permissions, the dump process. */
export class DumpError extends DbBackupError {}

/** Writing to or reading from a target failed. */
export class StorageError extends DbBackupError {
  /** True when the object or backup asked for does not exist. */
  readonly notFound: boolean;

  constructor(message: string, options: { hint?: string; cause?: unknown; notFound?: boolean } = {}) {
    super(message, options);
    this.notFound = options.notFound ?? false;
  }
}

/** Stored bytes do not match their manifest, or the archive inside is unreadable. */
export class IntegrityError extends DbBackupError {}

/** Formats an error as the one line a user sees: message, then the hint. */
export function formatErrorLine(error: unknown): string {
  if (error instanceof DbBackupError) {
    return error.hint ? `${error.message}. ${error.hint}` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Restoring failed; the destination was left as it was. */
export class RestoreError extends DbBackupError {}
