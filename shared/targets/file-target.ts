import { createReadStream, promises as fs } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { IntegrityError, StorageError, type Wording } from '../errors.js';
import { HOLDER_TOKEN_PATTERN, heartbeat, holderOfToken, holderToken, isStale } from '../pipeline/holder.js';
import { assertSafeKey, type PutOptions, type StoredObject, type Target } from './target.js';

const TMP_SUFFIX = '.tmp';
/** `name.<holder>.tmp` (or `name.tmp`, as older versions wrote it): the holder, when named. */
const TMP_FILE = new RegExp(`^.+?(?:\\.(${HOLDER_TOKEN_PATTERN}))?\\${TMP_SUFFIX}$`);

/**
 * Stores backups in a local directory. A file exists whole or not at all: it is written as
 * `name.<writer>.tmp`, fsynced, linked to its name (which fails rather than overwrite), and the
 * directory is fsynced. A temp file names its writer and is touched while written, so the next
 * write into that directory removes one whose writer was killed (see `isStale`).
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
    const stat = await fs.stat(path).catch(() => undefined);
    if (!stat?.isFile()) throw new StorageError(`${path} does not exist`, { notFound: true });
    return createReadStream(path);
  }

  async stat(key: string): Promise<StoredObject | undefined> {
    const stat = await fs.stat(this.pathOf(key)).catch(() => undefined);
    return stat?.isFile() ? { key, size: stat.size } : undefined;
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    const start = prefix ? join(this.root, ...prefix.split('/').filter(Boolean)) : this.root;
    const dir = prefix.endsWith('/') || !prefix ? start : dirname(start);
    let entries: string[];
    try {
      entries = await fs.readdir(dir, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new StorageError(`cannot list ${dir}: ${(error as Error).message}`, { cause: error });
    }
    for (const entry of entries) {
      if (entry.endsWith(TMP_SUFFIX)) continue;
      const key = relative(this.root, join(dir, entry)).split(sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const stat = await fs.stat(join(dir, entry)).catch(() => undefined);
      if (stat?.isFile()) yield { key, size: stat.size };
    }
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return join(this.root, ...key.split('/'));
  }
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
