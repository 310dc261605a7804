import type { PausePoint, Settings } from '../settings.js';

/**
 * A seam for crash tests, and nothing else: with `DBBACKUP_TEST_PAUSE_AT=<point>` the process
 * says `dbbackup: paused at <point>` on stderr and waits there forever, so a test can kill it
 * at exactly that point (a SIGKILL at a chosen instant is not something a real part produces
 * on cue). Points: `download` (after the first downloaded chunk), `restore` (the new database
 * exists, pg_restore not yet run), `swap` (restored and verified, before it replaces the
 * destination).
 */
export async function pausePoint(point: PausePoint, settings: Settings): Promise<void> {
  if (settings.pauseAt !== point) return;
  process.stderr.write(`dbbackup: paused at ${point}\n`);
  await new Promise<never>(() => {
    setInterval(() => {}, 1 << 30);
  });
}
