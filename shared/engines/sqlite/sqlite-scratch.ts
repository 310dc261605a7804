import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../errors.js';
import { makeRunTempDir } from '../../pipeline/run-temp-dir.js';
import type { ScratchDestination, ScratchOptions } from '../destination.js';
import { sqliteUrl } from './sqlite-path.js';

/**
 * Makes a SQLite scratch file: `<database>.db` in a run temp directory of its own (in `into`, a
 * directory, or else the temp dir), so that the file, its journal and whatever a restore leaves
 * beside it go with the directory, and a drill killed before its cleanup is swept by the next run.
 */
export async function openSqliteScratch(options: ScratchOptions): Promise<ScratchDestination> {
  const parent = options.into === undefined ? options.settings.tmpDir : directoryOf(options.into);
  const stat = await fs.stat(parent).catch(() => undefined);
  if (!stat?.isDirectory()) {
    throw new ConfigError(`the scratch directory ${parent} is not a directory`, {
      hint: 'a SQLite backup is drilled in a directory: give an existing one, or none for the temp directory',
    });
  }
  const dir = await makeRunTempDir(parent, 'drill');
  const name = `${options.database
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\./, '_')
    .slice(0, 100)}.db`;
  const path = join(dir, name);
  return {
    url: sqliteUrl(path),
    name,
    description: path,
    remove: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

function directoryOf(into: string): string {
  if (into.startsWith('file:')) return fileURLToPath(into);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(into)) {
    throw new ConfigError(`the scratch place "${into.replace(/\/\/[^@/]*@/, '//')}" is not a directory`, {
      hint: 'a SQLite backup is drilled in a directory: give its path, or none for the temp directory',
    });
  }
  return into;
}
