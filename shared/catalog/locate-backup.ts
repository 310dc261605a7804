import { basename, dirname, resolve, win32 } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, IntegrityError } from '../errors.js';
import {
  chooseBackup,
  type ListedBackup,
  listBackups,
  type ManifestProblem,
  problemOf,
  readManifest,
  unreadableNewerThan,
} from './list-backups.js';
import { MANIFEST_SUFFIX, type Manifest } from '../manifest.js';
import { openTarget } from '../targets/open-target.js';
import type { S3TargetOptions } from '../targets/s3-target.js';
import type { Target } from '../targets/target.js';

/** How the user chose a backup: the newest, one by file name, or any path or S3 URI. */
export interface BackupSelector {
  /** The target to search, with `latest` or `file`. */
  readonly target?: string;
  readonly latest?: boolean;
  readonly file?: string;
  /**
   * Limits `latest` to one database; required when the target holds several. With any way of
   * choosing, the chosen backup's manifest must name this database.
   */
  readonly database?: string;
  /** Any backup anywhere: `s3://bucket/key` or a local path; its manifest is `<path>.json`. */
  readonly path?: string;
  /** With `path`: restore even without a manifest (nothing can be verified). */
  readonly noManifest?: boolean;
  /**
   * Limits `latest` to backups of this engine (`postgres`, `sqlite`): a restore asks for the newest
   * backup its destination can take, which a newer backup of a same-named database of another
   * engine must not hide.
   */
  readonly engine?: string;
}

/** A located backup: where it is, and its manifest (absent only with `noManifest`). */
export interface LocatedBackup {
  readonly target: Target;
  readonly key: string;
  readonly manifest: Manifest | undefined;
  /** The backup's file name, e.g. `backup_school_20261121_230000_4f1c9a2e.dump.gz`. */
  readonly fileName: string;
  /** The next older completed backup of the same database, suggested when this one is corrupt. */
  readonly older?: ListedBackup;
  /** Unreadable manifests met while choosing it (none of them could be the one asked for). */
  readonly unreadable?: readonly ManifestProblem[];
}

/** Checks that a selector chooses exactly one way to find a backup, failing with a ConfigError before anything is read. */
export function checkBackupSelector(selector: BackupSelector): void {
  const modes = [selector.latest, selector.file, selector.path].filter(Boolean).length;
  if (modes !== 1) {
    throw new ConfigError((w) => `choose exactly one of ${w.setting('latest')}, ${w.setting('file')} and ${w.setting('path')}`);
  }
}

/** Finds the backup a selector names, failing with a ConfigError if it names none. */
export async function locateBackup(selector: BackupSelector, s3Options: S3TargetOptions = {}): Promise<LocatedBackup> {
  const located = await locateSelected(selector, s3Options);
  checkDatabase(located, selector.database);
  return located;
}

async function locateSelected(selector: BackupSelector, s3Options: S3TargetOptions): Promise<LocatedBackup> {
  checkBackupSelector(selector);
  if (selector.path) return locateByPath(selector.path, selector.noManifest ?? false, s3Options);
  if (!selector.target) {
    const chosen = selector.latest ? 'latest' : 'file';
    throw new ConfigError((w) => `${w.option(chosen)} needs ${w.setting('target')}`);
  }

  const target = await openTarget(selector.target, s3Options);
  // "The latest" is judged by time, so one dated ahead of this clock is set aside (and named below);
  // a backup chosen by name is restorable whatever its date.
  const listed = await listBackups(target, { database: selector.database, now: selector.latest ? new Date() : undefined });
  // A pre-restore copy is an undo point, not a backup to restore "the latest" from; --file still reaches it.
  const restorable = listed.backups.filter((b) => b.manifest.kind !== 'pre-restore');
  const ofEngine = restorable.filter((b) => b.manifest.engine === selector.engine);
  // With none of the destination's engine, the newest of another is chosen, and the restore names the mismatch.
  const backups = !selector.latest ? listed.backups : ofEngine.length > 0 ? ofEngine : restorable;
  const chosen = chooseBackup(backups, { file: selector.file, database: selector.database, where: target.url }, listed.problems);
  if (selector.latest) {
    const hiding = unreadableNewerThan(listed.problems, chosen)[0];
    if (hiding) {
      throw new IntegrityError(
        (w) =>
          `the manifest ${target.locate(hiding.key)} ${hiding.futureDated ? 'cannot be believed' : 'is unreadable'} (${hiding.error}); it may describe a newer backup of ${chosen.manifest.database} than ${chosen.manifest.backup_file}, so ${w.option('latest')} will not skip past it`,
        {
          hint: (w) =>
            `repair or remove that manifest, or choose the backup by name: ${w.setting('file', chosen.manifest.backup_file)}`,
        },
      );
    }
  }
  const older = listed.backups.find(
    (b) =>
      b.manifest.database === chosen.manifest.database &&
      b.manifest.engine === chosen.manifest.engine &&
      b.manifest.kind !== 'pre-restore' &&
      b.manifest.datetime < chosen.manifest.datetime,
  );
  return {
    target,
    key: chosen.key,
    manifest: chosen.manifest,
    fileName: chosen.manifest.backup_file,
    older,
    unreadable: listed.problems,
  };
}

/**
 * Refuses a backup of another database than the one asked for: names that older versions stored
 * alike, or a path to the wrong file, must not restore one database's data as another's.
 */
function checkDatabase(located: LocatedBackup, database: string | undefined): void {
  if (database === undefined) return;
  if (!located.manifest) {
    throw new ConfigError(`${located.fileName} has no manifest, so nothing says whether it is a backup of "${database}"`, {
      hint: (w) => `drop ${w.option('database')} to restore it anyway`,
    });
  }
  if (located.manifest.database !== database) {
    throw new ConfigError(`${located.fileName} is a backup of "${located.manifest.database}", not of "${database}"`, {
      hint: (w) => `choose a backup of "${database}", or drop ${w.option('database')}`,
    });
  }
}

/**
 * Opens the directory or bucket a path lives in as a target, so the same code reads it.
 * Windows paths (`C:\Users\me\Downloads\backup.dump.gz`) are accepted on Windows.
 */
async function locateByPath(path: string, noManifest: boolean, s3Options: S3TargetOptions): Promise<LocatedBackup> {
  let target: Target;
  let key: string;
  if (/^s3:\/\//i.test(path)) {
    const match = /^s3:\/\/([^/]+)\/(.+)$/i.exec(path);
    if (!match) throw new ConfigError(`"${path}" names no object`, { hint: 'use s3://bucket/key/of/backup_….dump.gz' });
    target = await openTarget(`s3://${match[1]}`, s3Options);
    key = match[2] as string;
  } else {
    const local = /^file:\/\//i.test(path)
      ? fileURLToPath(path)
      : process.platform === 'win32'
        ? win32.resolve(path)
        : resolve(path);
    target = await openTarget(dirname(local));
    key = basename(local);
  }
  if (!(await target.stat(key))) {
    throw new ConfigError(`backup ${target.locate(key)} does not exist`, {
      hint: (w) => `check the path or URI given to ${w.option('path')}`,
    });
  }
  const read = await readManifest(target, key);
  if (read && 'error' in read) {
    if (noManifest) {
      return {
        target,
        key,
        manifest: undefined,
        fileName: basename(key),
        unreadable: [problemOf(key + MANIFEST_SUFFIX, read.error)],
      };
    }
    throw new IntegrityError(`the manifest ${target.locate(key + MANIFEST_SUFFIX)} is unreadable: ${read.error}`, {
      hint: (w) => `without it nothing can be verified; pass ${w.setting('noManifest')} to restore anyway, ignoring it`,
    });
  }
  if (!read && !noManifest) {
    throw new ConfigError(`no manifest beside ${target.locate(key)} (expected ${basename(key)}${MANIFEST_SUFFIX})`, {
      hint: (w) => `without it nothing can be verified; pass ${w.setting('noManifest')} to restore anyway`,
    });
  }
  return { target, key, manifest: read?.manifest, fileName: basename(key) };
}
