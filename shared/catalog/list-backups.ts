import { text } from 'node:stream/consumers';
import { databaseKeyPrefix } from '../backup/backup-key.js';
import { keySafeName } from '../engines/engine.js';
import { ENGINES } from '../engines/registry.js';
import { ConfigError, IntegrityError, StorageError, type Wording } from '../errors.js';
import { MANIFEST_SUFFIX, type Manifest, parseManifest } from '../manifest.js';
import type { Target } from '../targets/target.js';

/** A completed backup: its manifest and the key of its data, relative to the target root. */
export interface ListedBackup {
  readonly key: string;
  readonly manifest: Manifest;
}

/**
 * A manifest that could not be read or did not validate. Its backup's state is unknown, so every
 * reader reports it and none skips past it silently: it may be the newest backup.
 */
export interface ManifestProblem {
  /** The manifest's key, relative to the target root. */
  readonly key: string;
  /** The file name of the backup it describes, as `list` names backups (its own name without `.json`). */
  readonly backupFile: string;
  readonly error: string;
  /**
   * Readable, but dated after the reader's clock (see {@link futureDated}): what it says it is. Its
   * database is known, so it counts when telling whether a target holds several; a pre-restore
   * copy is never "the latest" backup, whatever its date, so it hides none.
   */
  readonly futureDated?: { readonly database: string; readonly kind: Manifest['kind'] };
}

const READ_CONCURRENCY = 16;

/**
 * Lists the completed backups in a target, newest first. Only manifests count: a data object
 * without one (a backup that failed or is still running) does not exist as far as users,
 * retention and restore are concerned. With `database`, only that database's: those under its
 * key prefix whose manifest names it, so a manifest found there for another name is left out.
 * With `now`, a manifest dated after it is a problem (see {@link futureDated}).
 */
export async function listBackups(
  target: Target,
  filter: { database?: string; now?: Date } = {},
): Promise<{ backups: ListedBackup[]; problems: ManifestProblem[] }> {
  const { database, now } = filter;
  if (database !== undefined) assertDatabaseName(database);
  const prefixes = database ? ENGINES.map((e) => databaseKeyPrefix(e.kind, database)) : [''];
  const manifestKeys: string[] = [];
  try {
    for (const prefix of prefixes) {
      for await (const object of target.list(prefix)) {
        if (object.key.endsWith(MANIFEST_SUFFIX)) manifestKeys.push(object.key);
      }
    }
  } catch (error) {
    // Not "no backups": a target that is not there is most often a mistyped one.
    if (error instanceof StorageError && error.notFound) {
      throw new ConfigError(error.message, {
        hint: (w) => `check ${w.option('target')}`,
        cause: error,
      });
    }
    throw error;
  }
  const backups: ListedBackup[] = [];
  const problems: ManifestProblem[] = [];
  await forEachLimited(manifestKeys, READ_CONCURRENCY, async (manifestKey) => {
    const key = manifestKey.slice(0, -MANIFEST_SUFFIX.length);
    try {
      const read = await readManifest(target, key);
      // A manifest deleted between listing and reading (retention running) is simply gone.
      if (read === undefined) return;
      if ('error' in read) problems.push(problemOf(manifestKey, read.error));
      else if (now && futureDated(read.manifest, now))
        problems.push({
          ...problemOf(manifestKey, futureDated(read.manifest, now) as string),
          futureDated: { database: read.manifest.database, kind: read.manifest.kind },
        });
      else if (!database || read.manifest.database === database) backups.push({ key, manifest: read.manifest });
    } catch (error) {
      problems.push(problemOf(manifestKey, (error as Error).message));
    }
  });
  backups.sort((a, b) => b.manifest.datetime.localeCompare(a.manifest.datetime) || b.key.localeCompare(a.key));
  problems.sort((a, b) => a.key.localeCompare(b.key));
  return { backups, problems };
}

/**
 * How far ahead of the reader's clock a backup may be dated and still be taken as taken now: the
 * clocks of the machine that took it and the one reading it differ by seconds, not by an hour.
 */
export const CLOCK_SKEW_MS = 60 * 60 * 1000;

/**
 * Why a manifest dated after `now` cannot be believed, or undefined when it is not. Its time is
 * what makes it "the newest": taken at face value, a clock that ran ahead (or a forged manifest)
 * would hide a stale database from the health check and make prune delete the real newest backup.
 * Readers that judge by time set it aside as a problem: reported, kept, counted as no backup.
 */
export function futureDated(manifest: Manifest, now: Date): string | undefined {
  if (!(Date.parse(manifest.datetime) - now.getTime() > CLOCK_SKEW_MS)) return undefined;
  return `dated ${manifest.datetime}, after now (${now.toISOString()}): the clock that took it was wrong or the manifest was altered; kept and counted as no backup until its date is repaired or it is removed`;
}

/**
 * Refuses a database name that is not one segment of a key, before any key or path is built
 * from it: `..` or `a/b` would list elsewhere, outside a directory target even.
 */
function assertDatabaseName(name: string): void {
  // Any other name is safe to look up: keys hold it percent-encoded as one path segment
  // (keyName), so "..", "." or "a/b" name a database, never a way out of the target.
  if (name === '') throw new ConfigError((w) => `${w.option('database')} is empty`, { hint: 'name a database, or leave it out' });
}

/** The problem of the manifest at `manifestKey`. */
export function problemOf(manifestKey: string, error: string): ManifestProblem {
  const backupKey = manifestKey.slice(0, -MANIFEST_SUFFIX.length);
  return { key: manifestKey, backupFile: backupKey.slice(backupKey.lastIndexOf('/') + 1), error };
}

/**
 * Reads and validates the manifest of the backup at `key` (the one reading of a stored manifest):
 * undefined when there is none, `{ error }` when it is unreadable or invalid.
 */
export async function readManifest(target: Target, key: string): Promise<{ manifest: Manifest } | { error: string } | undefined> {
  try {
    return parseManifest(await text(await target.get(key + MANIFEST_SUFFIX)));
  } catch (error) {
    if (error instanceof StorageError && error.notFound) return undefined;
    throw error;
  }
}

/**
 * Picks the backup a user named: by file name (as `list` shows it), or else the newest. Without
 * a name or a database, a target holding several databases is ambiguous and refused.
 * Every refusal says where it looked: a ConfigError, or an IntegrityError when what was asked
 * for is behind an unreadable manifest (among `problems`).
 */
export function chooseBackup(
  backups: readonly ListedBackup[],
  selector: { file?: string; database?: string; where: string },
  problems: readonly ManifestProblem[] = [],
): ListedBackup {
  const where = `${selector.where}${selector.database ? ` for database ${selector.database}` : ''}`;
  const hint = (w: Wording) => `${w.howToList} to see the backups that exist`;
  if (selector.file) {
    const found = backups.find((b) => b.manifest.backup_file === selector.file || b.key === selector.file);
    if (found) return found;
    const damaged = problemNamed(problems, selector.file);
    if (damaged) {
      throw new IntegrityError(`the manifest of ${damaged.backupFile} in ${where} is unreadable (${damaged.error})`, {
        hint: 'without it the backup cannot be verified; repair or remove the manifest',
      });
    }
    throw new ConfigError(`no completed backup named "${selector.file}" in ${where}`, { hint });
  }
  if (!selector.database) {
    // One dated ahead of the clock is set aside, not gone: its database is still in the target, and
    // choosing "the latest" of the others would restore another database's data unasked.
    const databases = [
      ...new Set([
        ...backups.map((b) => b.manifest.database),
        ...problems.flatMap((p) => (p.futureDated && p.futureDated.kind !== 'pre-restore' ? [p.futureDated.database] : [])),
      ]),
    ];
    if (databases.length > 1) {
      throw new ConfigError(`${selector.where} holds backups of several databases (${databases.join(', ')})`, {
        hint: (w) => `name one with ${w.option('database')}`,
      });
    }
  }
  const newest = backups[0];
  if (!newest && problems.length > 0) {
    const first = problems[0] as ManifestProblem;
    throw new IntegrityError(
      `no readable backups in ${where}: ${problems.length} manifest(s) there are unreadable or cannot be believed (${first.key}: ${first.error})`,
      { hint: 'repair or remove the damaged manifests, or choose a backup by name' },
    );
  }
  if (!newest) throw new ConfigError(`no completed backups in ${where}`, { hint: olderName(selector.database) ?? hint });
  return newest;
}

/** Where older versions, which sanitised names, may have listed a database: they named `sales eu` `sales_eu`. */
function olderName(database: string | undefined): string | undefined {
  if (database === undefined) return undefined;
  const older = keySafeName(database);
  if (older === database) return undefined;
  return `older versions of dbbackup stored its backups as database ${older} (a name other databases may share): list that one to see them`;
}

/** The unreadable manifest of the backup a user named by file name (as `list` shows it) or key. */
export function problemNamed(problems: readonly ManifestProblem[], file: string): ManifestProblem | undefined {
  return problems.find((p) => p.backupFile === file || p.key === `${file}${MANIFEST_SUFFIX}`);
}

/**
 * The unreadable manifests that may describe a newer backup of `backup`'s database than `backup`
 * itself: while one exists, which backup is the latest cannot be told. Those in another
 * database's folder, or whose file name's timestamp is older, cannot; any other may.
 */
export function unreadableNewerThan(problems: readonly ManifestProblem[], backup: ListedBackup): ManifestProblem[] {
  const folder = databaseFolder(backup.key);
  const taken = stampOf(backup.manifest.backup_file);
  return problems.filter((p) => {
    if (p.futureDated?.kind === 'pre-restore') return false;
    const theirs = databaseFolder(p.key.slice(0, -MANIFEST_SUFFIX.length));
    if (folder !== undefined && theirs !== undefined && theirs !== folder) return false;
    const stamp = stampOf(p.backupFile);
    return stamp === undefined || taken === undefined || stamp >= taken;
  });
}

/** `<engine>/<database>` of a key laid out as `<engine>/<database>/<YYYY>/<file>` (under any prefix). */
function databaseFolder(key: string): string | undefined {
  const parts = key.split('/');
  return parts.length >= 3 ? parts.slice(0, -2).join('/') : undefined;
}

/**
 * `YYYYMMDD_HHMMSS_NNNN` from `backup_<database>_<YYYYMMDD_HHMMSS>[_<run>][_N].<ext>`, comparable
 * as text (the run id, 8 hex digits, orders nothing).
 */
function stampOf(fileName: string): string | undefined {
  const match = /_(\d{8}_\d{6})(?:_[0-9a-f]{8})?(?:_(\d{1,4}))?(?:\.[A-Za-z0-9]+)+$/.exec(fileName);
  return match ? `${match[1]}_${(match[2] ?? '0').padStart(4, '0')}` : undefined;
}

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}
