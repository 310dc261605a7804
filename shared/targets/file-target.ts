import { createReadStream, type Dirent, promises as fs } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { IntegrityError, StorageError, type Wording } from '../errors.js';
import { HOLDER_TOKEN_PATTERN, heartbeat, holderOfToken, holderToken, isStale } from '../pipeline/holder.js';
import { assertSafeKey, assertSafePrefix, type PutOptions, type StoredObject, type Target } from './target.js';

const TMP_SUFFIX = '.tmp';
/** `name.<holder>.tmp` (or `name.tmp`, as older versions wrote it): the holder, when named. */
const TMP_FILE = new RegExp(`^.+?(?:\\.(${HOLDER_TOKEN_PATTERN}))?\\${TMP_SUFFIX}$`);

/**
 * Stores backups in a local directory. A file exists whole or not at all: it is written as
 * `name.<writer>.tmp`, fsynced, linked to its name (which fails rather than overwrite), and the
 * directory is fsynced. A temp file names its writer and is touched while written, so the next
 * write into that directory removes one whose writer was killed (see `isStale`).
 *
 * Nothing is read, written, listed or deleted outside the directory: a key's path is checked,
 * through any symbolic link on the way, to resolve inside it (the directory itself may be a
 * link). A link that leads out is refused with a StorageError, and `list` does not descend
 * into one.
 */
export class FileTarget implements Target {
  readonly kind = 'file' as const;
  readonly sse = 'none' as const;
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  get url(): string {
    return pathToFileURL(this.root).toString();
  }

  locate(key: string): string {
    return this.pathOf(key);
  }

  objectKey(key: string): string {
    return key;
  }

  async preflight(): Promise<void> {
    // Check without creating anything: a backup that fails later must leave no trace, not even a directory.
    let dir = this.root;
    for (;;) {
      const stat = await fs.stat(dir).catch(() => undefined);
      if (stat) {
        if (!stat.isDirectory())
          throw new StorageError(`backup target ${dir} is not a directory`, {
            hint: (w) => `choose another ${w.option('target')}`,
          });
        break;
      }
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
    try {
      await fs.access(dir, fs.constants.W_OK);
    } catch (cause) {
      throw new StorageError(`backup directory ${this.root} cannot be created or written (${dir} is not writable)`, {
        hint: (w) => `choose another ${w.option('target')} or fix the directory permissions`,
        cause,
      });
    }
  }

  async put(key: string, body: Readable, _options: PutOptions): Promise<StoredObject> {
    const path = this.pathOf(key);
    const dir = dirname(path);
    const tmp = `${path}.${holderToken()}${TMP_SUFFIX}`;
    try {
      // Before mkdir: through a link that leads out, it would create directories outside.
      await this.assertInside(dir);
    } catch (error) {
      body.destroy();
      throw error;
    }
    // No check that `path` is free: publish's link() refuses an existing name, with no race.
    let created: string | undefined;
    try {
      created = await fs.mkdir(dir, { recursive: true });
    } catch (cause) {
      body.destroy();
      throw storageFailure(`cannot create ${dir}`, cause);
    }
    await removeStaleTempFiles(dir);
    let size = 0;
    // 'wx': a temp file already there belongs to another writer; leave it be.
    const handle = await fs.open(tmp, 'wx').catch(async (cause: Error) => {
      body.destroy();
      await removeEmptyDirs(dir, created);
      throw storageFailure(`cannot create ${tmp}`, cause);
    });
    const stopHeartbeat = heartbeat(tmp);
    try {
      try {
        for await (const chunk of body) {
          const buffer = chunk as Buffer;
          let offset = 0;
          while (offset < buffer.length) {
            const { bytesWritten } = await handle.write(buffer, offset, buffer.length - offset);
            offset += bytesWritten;
          }
          size += buffer.length;
        }
        await handle.sync();
      } finally {
        await handle.close();
      }
      await publish(tmp, path);
      await fsyncDir(dir);
    } catch (error) {
      body.destroy();
      await fs.rm(tmp, { force: true });
      await removeEmptyDirs(dir, created);
      if (error instanceof StorageError) throw error;
      if (isFsError(error)) throw storageFailure(`writing ${path} failed`, error);
      throw error;
    } finally {
      stopHeartbeat();
    }
    return { key, size };
  }

  async seal(key: string, stored: { size: number; sha256: string }): Promise<void> {
    const found = await this.stat(key);
    if (found?.size !== stored.size) {
      throw new IntegrityError(`${this.pathOf(key)} holds ${found?.size ?? 'no'} bytes but ${stored.size} were written`);
    }
  }

  async get(key: string): Promise<Readable> {
    const path = this.pathOf(key);
    await this.assertInside(path);
    const stat = await fs.stat(path).catch(() => undefined);
    if (!stat?.isFile()) throw new StorageError(`${path} does not exist`, { notFound: true });
    return createReadStream(path);
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    const path = this.pathOf(key);
    await this.assertInside(path);
    const stat = await fs.stat(path).catch(() => undefined);
    return stat?.isFile() ? { key, size: stat.size, modified: stat.mtime } : undefined;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    assertSafePrefix(prefix);
    const start = prefix ? join(this.root, ...prefix.split('/').filter(Boolean)) : this.root;
    const dir = prefix.endsWith('/') || !prefix ? start : dirname(start);
    const realRoot = await fs.realpath(this.root).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') {
        throw new StorageError(`backup target ${this.root} does not exist`, { notFound: true, cause: error });
      }
      throw new StorageError(`cannot list ${this.root}: ${error.message}`, { cause: error });
    });
    if (!(await fs.stat(realRoot)).isDirectory()) {
      throw new StorageError(`backup target ${this.root} is not a directory`, {
        hint: (w) => `choose another ${w.option('target')}`,
      });
    }
    await this.assertInside(dir);
    const realDir = await fs.realpath(dir).catch(() => undefined);
    if (realDir === undefined) return;
    for await (const path of walk(dir, realDir, realRoot, new Set())) {
      const key = relative(this.root, path).split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const stat = await fs.stat(path).catch(() => undefined);
      if (stat?.isFile()) yield { key, size: stat.size, modified: stat.mtime };
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    // rm removes a link itself, never what it points to; the directories on the way must be ours.
    await this.assertInside(dirname(path));
    await fs.rm(path, { force: true });
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }

  /**
   * Fails with a StorageError unless `path` resolves inside the root; a path that does not exist
   * yet is judged by its deepest existing ancestor (what mkdir or open would go through).
   */
  private async assertInside(path: string): Promise<void> {
    const realRoot = await fs.realpath(this.root).catch(() => undefined);
    // No root yet: nothing under it exists, so no link can lead anywhere.
    if (realRoot === undefined) return;
    const real = await realpathOfExisting(path).catch((cause: Error) => {
      throw new StorageError(`cannot resolve ${path}: ${cause.message}`, { cause });
    });
    if (!isWithin(realRoot, real)) {
      throw new StorageError(`${path} leads outside the backup directory ${this.root} (through a symbolic link)`, {
        hint: 'dbbackup reads and writes only inside the target directory; remove the link or move what it points to inside',
      });
    }
  }
}

/**
 * Yields the path of every entry under `dir` that is not a directory (nor a temp file), without
 * following a symbolic link to a directory unless it resolves inside `realRoot` and was not
 * walked yet (so a link cannot lead the walk out, or round in a loop).
 */
async function* walk(dir: string, realDir: string, realRoot: string, walked: Set<string>): AsyncIterable<string> {
  walked.add(realDir);
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StorageError(`cannot list ${dir}: ${(error as Error).message}`, { cause: error });
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      yield* walk(path, join(realDir, entry.name), realRoot, walked);
    } else if (entry.isSymbolicLink()) {
      const real = await fs.realpath(path).catch(() => undefined);
      const stat = real === undefined ? undefined : await fs.stat(real).catch(() => undefined);
      if (!stat || real === undefined) continue;
      if (!stat.isDirectory()) {
        if (!entry.name.endsWith(TMP_SUFFIX)) yield path;
      } else if (isWithin(realRoot, real) && !walked.has(real)) yield* walk(path, real, realRoot, walked);
    } else if (!entry.name.endsWith(TMP_SUFFIX)) {
      yield path;
    }
  }
}

/** The real path of `path`, or of its deepest ancestor that exists, with the rest appended. */
async function realpathOfExisting(path: string): Promise<string> {
  const rest: string[] = [];
  for (let at = path; ; at = dirname(at)) {
    try {
      return join(await fs.realpath(at), ...rest.reverse());
    } catch (error) {
      const parent = dirname(at);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw error;
      rest.push(relative(parent, at));
    }
  }
}

function isWithin(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** Gives the finished temp file its name without ever replacing an existing file. */
async function publish(tmp: string, path: string): Promise<void> {
  try {
    await fs.link(tmp, path);
    await fs.unlink(tmp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new StorageError(`${path} already exists; backups are never overwritten`);
    // File systems without hard links (some network and FUSE mounts): check, then rename.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'EXDEV') {
      if (await exists(path)) throw new StorageError(`${path} already exists; backups are never overwritten`);
      await fs.rename(tmp, path);
      return;
    }
    throw error;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some platforms cannot fsync a directory (EINVAL/EISDIR); the rename is still durable there.
    if (!['EINVAL', 'EISDIR', 'EPERM'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
  } finally {
    await handle.close();
  }
}

/** Removes the temp files in `dir` whose writer is gone: a backup killed before it could clean up. */
async function removeStaleTempFiles(dir: string): Promise<void> {
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  for (const entry of entries) {
    const match = TMP_FILE.exec(entry);
    if (!match) continue;
    const stat = await fs.stat(join(dir, entry)).catch(() => undefined);
    const holder = match[1] ? holderOfToken(match[1]) : undefined;
    if (stat?.isFile() && isStale(holder, stat.mtimeMs)) await fs.rm(join(dir, entry), { force: true }).catch(() => {});
  }
}

/** Removes `dir` and its parents up to `created` (what one mkdir made), as far as they are empty. */
async function removeEmptyDirs(dir: string, created: string | undefined): Promise<void> {
  if (!created) return;
  for (let current = dir; current.startsWith(created); current = dirname(current)) {
    const removed = await fs.rmdir(current).then(
      () => true,
      () => false,
    );
    if (!removed || current === created) return;
  }
}

/** A file system failure as one line, with a hint where the cause says what to do. */
function storageFailure(what: string, cause: unknown): StorageError {
  const code = (cause as NodeJS.ErrnoException).code;
  const hint =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? (w: Wording) => `the disk is full: free space there or choose another ${w.option('target')}`
      : undefined;
  // Node names the system call and both paths ("…, link '/a/x.tmp' -> '/a/x'"); `what` says enough.
  const reason = (cause as Error).message.replace(/, [a-z]+( '.*)?$/, '');
  return new StorageError(`${what}: ${reason}`, { hint, cause });
}

function exists(path: string): Promise<boolean> {
  return fs.access(path).then(
    () => true,
    () => false,
  );
}

function isFsError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code);
}
