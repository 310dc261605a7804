import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The pause between two tries for a lock (SQLite's own handler pauses up to 100 ms). Longer pauses
 * missed the moments between a busy writer's commits (5 ms: over a second again); the cost is about
 * a sixth of a core while a lock is held for seconds, within the wait's limit.
 */
const PAUSE_MS = 1;

/**
 * Runs `work`, a statement that takes one of SQLite's locks on a connection whose busy_timeout is
 * 0, again and again until it is not refused as busy, for up to `waitMs`; then fails with the last
 * refusal. SQLite's own busy handler sleeps up to 100 ms between tries, and a writer committing
 * back to back (in rollback-journal mode every commit shuts readers out) has the lock again at
 * each of them: a backup waited 2 to 7 s for a read lock that a try every millisecond had within
 * a few hundred. Asynchronous, so that this process does other work while it waits; aborting
 * `signal` ends the wait before the next try, with the signal's reason (a run that was stopped
 * must not go on trying, its connection open, for the rest of the wait).
 */
export async function whenNotBusy<T>(work: () => T, waitMs: number, signal?: AbortSignal): Promise<T> {
  const started = Date.now();
  for (;;) {
    signal?.throwIfAborted();
    try {
      return work();
    } catch (error) {
      if (!isBusy(error) || Date.now() - started >= waitMs) throw error;
    }
    await sleep(PAUSE_MS);
  }
}

/** Whether SQLite refused for a lock another connection holds. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: string }).code ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}
