import { existsSync } from 'node:fs';
import type { PausePoint, Settings } from '../settings.js';

/**
 * A seam for crash tests, and nothing else: with `DBBACKUP_TEST_PAUSE_AT=<point>` the process
 * says `dbbackup: paused at <point>` on stderr and waits there, so a test can kill it at exactly
 * that point (a SIGKILL at a chosen instant is not something a real part produces on cue), or,
 * with `DBBACKUP_TEST_RESUME_FILE=<path>`, act at that point (write to the destination) and then
 * create that file to let the run go on. Points: `download` (after the first downloaded chunk),
 * `restore` (the new database exists, pg_restore not yet run), `swap` (restored and verified,
 * after the safety backup, before it replaces the destination), `rename` (in the swap's
 * transaction, the destination's sessions ended, before the renames), `prune` (a backup's manifest
 * deleted, its data not yet).
 */
export async function pausePoint(point: PausePoint, settings: Settings): Promise<void> {
  if (settings.pauseAt !== point) return;
  process.stderr.write(`dbbackup: paused at ${point}\n`);
  const resume = settings.resumeFile;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (resume !== undefined && existsSync(resume)) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
  });
}
