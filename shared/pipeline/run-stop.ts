import { CancelledError, DbBackupError, type Text } from '../errors.js';

/** When a run must end by, and what set that time, in the words of whoever set it. */
export interface Deadline {
  /** Epoch milliseconds. */
  readonly at: number;
  /** What set it, named in the message once it passes: `--timeout 600`, `the function's time limit`. */
  readonly setBy: string;
}

/** How a caller stops a run from outside. */
export interface StopOptions {
  /**
   * Aborting stops the run. A string reason says why (`SIGTERM`: "cancelled (SIGTERM)"); a
   * DbBackupError reason is the error the run fails with.
   */
  readonly signal?: AbortSignal;
  /** The run fails, cleanly, once this passes. */
  readonly deadline?: Deadline;
}

/**
 * How long a failed or stopped run waits for what it started to end (an upload's abort, a
 * session's close) before it gives up waiting and reports: the bound on every cleanup, so a
 * stalled server cannot hold a run that has already failed.
 */
export const CLEANUP_GRACE_MS = 10_000;

/** setTimeout's longest delay (about 24.8 days); a deadline further away is re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One run's stop: `signal` aborts, with a CancelledError as its reason, when the caller's signal
 * aborts or the deadline passes. `guard` lets the run leave a step at that moment, whatever the
 * step is waiting for (a server that stopped answering, a hung mount); what the step holds is then
 * released by the run's cleanup, which {@link settleWithin} bounds.
 */
export class RunStop {
  readonly signal: AbortSignal;
  /** What the run is doing, named in the message if it is stopped: `probing`, `streaming`. */
  phase: string | undefined;
  private readonly controller = new AbortController();
  private readonly stopped: Promise<never>;
  private timer: NodeJS.Timeout | undefined;
  private readonly detach: () => void;

  /**
   * @param what the run, as its messages begin: `backup of postgres://app@db/school`
   * @param hint the next step once it has stopped: `no backup was stored`
   */
  constructor(
    private readonly what: string,
    options: StopOptions & { readonly hint?: Text } = {},
  ) {
    this.signal = this.controller.signal;
    this.stopped = new Promise<never>((_resolve, reject) => {
      this.signal.addEventListener('abort', () => reject(this.signal.reason), { once: true });
    });
    this.stopped.catch(() => {});
    const caller = options.signal;
    const onCaller = () => this.stop(this.cancelled(caller?.reason, options.hint));
    caller?.addEventListener('abort', onCaller, { once: true });
    this.detach = () => caller?.removeEventListener('abort', onCaller);
    if (caller?.aborted) onCaller();
    const deadline = options.deadline;
    if (deadline) this.arm(deadline, options.hint);
  }

  /** Settles as `work` does, unless the run is stopped first: then rejects at once with the stop's reason. */
  guard<T>(work: Promise<T>): Promise<T> {
    if (this.signal.aborted) {
      work.catch(() => {});
      return Promise.reject(this.signal.reason as Error);
    }
    return Promise.race([work, this.stopped]);
  }

  /** Throws the stop's reason if the run has been stopped. */
  check(): void {
    if (this.signal.aborted) throw this.signal.reason as Error;
  }

  /** Stops listening to the caller and the clock, once the run has ended. */
  dispose(): void {
    clearTimeout(this.timer);
    this.detach();
  }

  private stop(reason: Error): void {
    if (this.signal.aborted) return;
    this.controller.abort(reason);
    this.dispose();
  }

  private arm(deadline: Deadline, hint: Text | undefined): void {
    const left = deadline.at - Date.now();
    const expire = () =>
      this.stop(new CancelledError(`${this.what} did not finish in time (${deadline.setBy})${this.during()}`, { hint }));
    if (left <= 0) return expire();
    this.timer = setTimeout(() => (left > MAX_TIMER_MS ? this.arm(deadline, hint) : expire()), Math.min(left, MAX_TIMER_MS));
    // The deadline bounds the run; it is no reason for a process to stay alive once the run is over.
    this.timer.unref();
  }

  private cancelled(reason: unknown, hint: Text | undefined): Error {
    if (reason instanceof DbBackupError) return reason;
    const why = typeof reason === 'string' && reason ? ` (${reason})` : '';
    return new CancelledError(`${this.what} cancelled${why}${this.during()}`, { hint });
  }

  private during(): string {
    return this.phase ? ` while ${this.phase}` : '';
  }
}

/**
 * Waits for `work` to settle, at most `ms`: true if it did. Its outcome is not reported; this is
 * for cleanups, which must not replace the error that made them run.
 */
export async function settleWithin(work: Promise<unknown>, ms = CLEANUP_GRACE_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
