import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { HOLDER_TOKEN_PATTERN, holderOfToken, holderState, holderToken } from './holder.js';

/** What a run's temp directory is for, the word in its name. */
export type TempPurpose = 'sqlite' | 'restore' | 'verify' | 'drill';

/** `dbbackup-<purpose>-<holder>-XXXXXX`: a run's temp directory, and the holder it belongs to. */
const RUN_TEMP_DIR = new RegExp(`^dbbackup-(?:sqlite|restore|verify|drill)-(${HOLDER_TOKEN_PATTERN})-[A-Za-z0-9]{6}$`);

/**
 * Makes a temp directory for one run in `tmpDir`, named after this process, after removing the
 * ones whose process is gone: a run killed before its cleanup (SIGKILL, out of memory) leaves its
 * snapshot or download behind, and the next run takes it away.
 */
export async function makeRunTempDir(tmpDir: string, purpose: TempPurpose): Promise<string> {
  await sweepRunTempDirs(tmpDir);
  return fs.mkdtemp(join(tmpDir, `dbbackup-${purpose}-${holderToken()}-`));
}

/**
 * Removes the run temp directories in `tmpDir` left by processes of this machine that are gone.
 * Anything else (a live run's, another machine's on a shared disk, names not ours) stays.
 */
export async function sweepRunTempDirs(tmpDir: string): Promise<void> {
  const entries = await fs.readdir(tmpDir).catch(() => [] as string[]);
  for (const entry of entries) {
    const token = RUN_TEMP_DIR.exec(entry)?.[1];
    if (token && holderState(holderOfToken(token)) === 'gone') {
      await fs.rm(join(tmpDir, entry), { recursive: true, force: true }).catch(() => {});
    }
  }
}
