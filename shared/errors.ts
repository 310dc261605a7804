/**
 * An option a core message may refer to: a property of a backup's options or of a restore
 * request, or what names a deployed function (its stack, or the function's own name).
 */
export const OPTION_NAMES = [
  // Each is a key of BackupOptionsInput, RestoreRequest or PruneRequestInput: test/unit/option-wording.test.ts checks
  // it at compile time (the model does not import the operations).
  'source',
  'target',
  'compression',
  'level',
  'format',
  'storageClass',
  'sse',
  'kmsKeyId',
  'database',
  'latest',
  'file',
  'path',
  'noManifest',
  'to',
  'confirm',
  'missingRoles',
  'dropReplaced',
  'keepDaily',
  'keepWeekly',
  'keepMonthly',
  'keepWithin',
  'keepPreRestoreDays',
  'keepRunsDays',
  'orphansAfter',
  'timeZone',
  'lockWaitSeconds',
  'stack',
  'functionName',
] as const;
export type OptionName = (typeof OPTION_NAMES)[number];

/** Whether `name` is an option a front end has words for (a field of a request that failed validation may be). */
export function isOptionName(name: string): name is OptionName {
  return (OPTION_NAMES as readonly string[]).includes(name);
}

/** How a front end words the options its user sets. */
export interface Wording {
  /** Names an option: `--storage-class` on the CLI, `"storageClass"` in an event. */
  option(name: OptionName): string;
  /**
   * An option as the user sets it: with `value`, `--confirm app.db` or `"confirm": "app.db"`;
   * without, with a placeholder for its value (`--file NAME`), or alone if it takes none (`--latest`).
   */
  setting(name: OptionName, value?: string): string;
  /** How this front end's user sees which backups exist: `run "dbbackup list --target URL"`. */
  readonly howToList: string;
}

/** A message or hint: plain text, or text that refers to options, in whichever words it is given. */
export type Text = string | ((words: Wording) => string);

/** The core's own words, for `message` and `hint` until a front end rewords them: `storageClass`, `confirm "app.db"`. */
export const coreWording: Wording = {
  option: (name) => name,
  setting: (name, value) => (value === undefined ? name : `${name} ${JSON.stringify(value)}`),
  howToList: 'list the backups there',
};

const render = (text: Text, words: Wording): string => (typeof text === 'string' ? text : text(words));

/**
 * The error tree of the core; each front end maps it to its own words and outcome (the CLI to
 * a line on stderr and an exit code, a function to its error message).
 *
 * Each error carries a `hint`: the next step for the person reading it. Messages name the
 * operation, the subject and the reason, never a secret (callers redact before constructing).
 * A message that refers to an option the user chose names the option, never a front end's way
 * of setting it: it is a {@link Text} built from a {@link Wording}, so the CLI says `--file`
 * and the restore function says `"file"`.
 */
export abstract class DbBackupError extends Error {
  /** The next step, in the core's words until {@link DbBackupError.reword} gives it a front end's. */
  hint: string | undefined;
  /** The options the message and hint refer to, in order: what the user may need to change. */
  readonly options: readonly OptionName[];
  readonly #text: { readonly message: Text; readonly hint: Text | undefined };

  constructor(message: Text, options: { hint?: Text; cause?: unknown } = {}) {
    super(render(message, coreWording), { cause: options.cause });
    this.name = new.target.name;
    this.#text = { message, hint: options.hint };
    this.hint = options.hint === undefined ? undefined : render(options.hint, coreWording);
    const named: OptionName[] = [];
    const recorder: Wording = {
      option: (name) => (named.push(name), name),
      setting: (name) => (named.push(name), name),
      howToList: coreWording.howToList,
    };
    render(message, recorder);
    if (options.hint !== undefined) render(options.hint, recorder);
    this.options = [...new Set(named)];
  }

  /** The message and hint in a front end's words. */
  worded(words: Wording): { message: string; hint: string | undefined } {
    const hint = this.#text.hint;
    return { message: render(this.#text.message, words), hint: hint === undefined ? undefined : render(hint, words) };
  }

  /** Puts `message` and `hint` in a front end's words, for a front end that rethrows the error; returns it. */
  reword(words: Wording): this {
    ({ message: this.message, hint: this.hint } = this.worded(words));
    return this;
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

  constructor(message: Text, options: { hint?: Text; cause?: unknown; notFound?: boolean } = {}) {
    super(message, options);
    this.notFound = options.notFound ?? false;
  }
}

/** Stored bytes do not match their manifest, or the archive inside is unreadable. */
export class IntegrityError extends DbBackupError {}

/**
 * Formats an error as the one line a user sees: message, then the hint; in a front end's words
 * when it gives them, else as the error stands (the core's words, or those of a rewording).
 */
export function formatErrorLine(error: unknown, words?: Wording): string {
  if (error instanceof DbBackupError) {
    const { message, hint } = words ? error.worded(words) : error;
    return hint ? `${message}. ${hint}` : message;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * Restoring failed. The destination was left as it was, unless `destinationChanged`: then the
 * message says what it holds now and the hint how to undo it.
 */
export class RestoreError extends DbBackupError {
  /** True when the failure came after the destination was replaced. */
  readonly destinationChanged: boolean;

  constructor(message: Text, options: { hint?: Text; cause?: unknown; destinationChanged?: boolean } = {}) {
    super(message, options);
    this.destinationChanged = options.destinationChanged ?? false;
  }
}

/**
 * The run was stopped from outside before it finished: cancelled (a signal, a caller's abort) or
 * out of time (its deadline passed). What it had started was undone, as for any other failure.
 */
export class CancelledError extends DbBackupError {}
