import { text } from 'node:stream/consumers';
import { databaseKeyPrefix } from '../backup/backup-key.js';
import { keySafeName } from '../engines/engine.js';
import { ENGINES } from '../engines/registry.js';
import { ConfigError, StorageError, type Wording } from '../errors.js';
import { MANIFEST_SUFFIX, type Manifest, parseManifest } from '../manifest.js';
import type { Target } from '../targets/target.js';

/** A completed backup: its manifest and the key of its data, relative to the target root. */
export interface ListedBackup {
  readonly key: string;
  readonly manifest: Manifest;
}

/** A manifest that could not be read or did not validate; reported, never silently dropped. */
export interface ManifestProblem {
  readonly key: string;
  readonly error: string;
}

const READ_CONCURRENCY = 16;

/**
 * Lists the completed backups in a target, newest first. Only manifests count: a data object
 * without one (a backup that failed or is still running) does not exist as far as users,
 * retention and restore are concerned. With `database`, only that database's: those under its
 * key prefix whose manifest names it, so a manifest found there for another name is left out.
 */
export async function listBackups(
  target: Target,
  filter: { database?: string } = {},
): Promise<{ backups: ListedBackup[]; problems: ManifestProblem[] }> {
  const { database } = filter;
  const prefixes = database ? ENGINES.map((e) => databaseKeyPrefix(e.kind, database)) : [''];
  const manifestKeys: string[] = [];
  for (const prefix of prefixes) {
    for await (const object of target.list(prefix)) {
      if (object.key.endsWith(MANIFEST_SUFFIX)) manifestKeys.push(object.key);
    }
  }
  const backups: ListedBackup[] = [];
  const problems: ManifestProblem[] = [];
  await forEachLimited(manifestKeys, READ_CONCURRENCY, async (manifestKey) => {
    const key = manifestKey.slice(0, -MANIFEST_SUFFIX.length);
    try {
      const read = await readManifest(target, key);
      // A manifest deleted between listing and reading (retention running) is simply gone.
      if (read === undefined) return;
      if ('error' in read) problems.push({ key: manifestKey, error: read.error });
      else if (!database || read.manifest.database === database) backups.push({ key, manifest: read.manifest });
    } catch (error) {
      problems.push({ key: manifestKey, error: (error as Error).message });
    }
  });
  backups.sort((a, b) => b.manifest.datetime.localeCompare(a.manifest.datetime) || b.key.localeCompare(a.key));
  return { backups, problems };
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
 * Every refusal is a ConfigError that says where it looked.
 */
export function chooseBackup(
  backups: readonly ListedBackup[],
  selector: { file?: string; database?: string; where: string },
): ListedBackup {
  const where = `${selector.where}${selector.database ? ` for database ${selector.database}` : ''}`;
  const hint = (w: Wording) => `${w.howToList} to see the backups that exist`;
  if (selector.file) {
    const found = backups.find((b) => b.manifest.backup_file === selector.file || b.key === selector.file);
    if (!found) throw new ConfigError(`no completed backup named "${selector.file}" in ${where}`, { hint });
    return found;
  }
  if (!selector.database) {
    const databases = [...new Set(backups.map((b) => b.manifest.database))];
    if (databases.length > 1) {
      throw new ConfigError(`${selector.where} holds backups of several databases (${databases.join(', ')})`, {
        hint: (w) => `name one with ${w.option('database')}`,
      });
    }
  }
  const newest = backups[0];
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

async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++] as T);
  });
  await Promise.all(workers);
}
