import { InvalidArgumentError } from 'commander';
import { CLEANUP_GRACE_MS, type Deadline } from '../shared/pipeline/run-stop.js';

/** The signals that stop a long command, with their numbers: a stopped command exits 128 + n, as a shell reports it. */
const SIGNALS = { SIGINT: 2, SIGTERM: 15 } as const;
type StopSignal = keyof typeof SIGNALS;

/**
 * How long a stopped command may take to clean up before the process ends anyway: the core's own
 * bound on its cleanup, and a little more, so that the core's comes first.
 */
const EXIT_GRACE_MS = CLEANUP_GRACE_MS + 5_000;

let received: StopSignal | undefined;

/** The exit code of a command stopped by a signal (130 for SIGINT, 143 for SIGTERM), if one was. */
export function signalExitCode(): number | undefined {
  return received ? 128 + SIGNALS[received] : undefined;
}

/** How a long command is stopped: its signal and its deadline, for the core. */
export interface CommandStop {
  readonly signal: AbortSignal;
  readonly deadline?: Deadline;
  /** Stops listening for signals, once the command has ended. */
  dispose(): void;
}

/**
 * Makes SIGINT (Ctrl-C) and SIGTERM stop a long command cleanly: the first aborts `signal`, and
 * the command cleans up and fails (exit 130 or 143). A second signal, or a cleanup still running
 * after {@link EXIT_GRACE_MS}, ends the process at once by the signal's own default action,
 * whatever it is waiting for. `--timeout` seconds become the deadline.
 */
export function stopOnSignal(timeoutSeconds: number | undefined): CommandStop {
  const controller = new AbortController();
  const onSignal = (name: StopSignal) => {
    if (received) {
      process.stderr.write(`dbbackup: ${name} again: stopping without waiting for the cleanup\n`);
      return die(name);
    }
    received = name;
    controller.abort(name);
    setTimeout(() => {
      process.stderr.write(`dbbackup: the cleanup did not finish within ${EXIT_GRACE_MS / 1000} s of ${name}; stopping\n`);
      die(name);
    }, EXIT_GRACE_MS).unref();
  };
  for (const name of Object.keys(SIGNALS) as StopSignal[]) process.on(name, onSignal);
  return {
    signal: controller.signal,
    deadline:
      timeoutSeconds === undefined ? undefined : { at: Date.now() + timeoutSeconds * 1000, setBy: `--timeout ${timeoutSeconds}` },
    dispose: () => {
      // A signal after this (the process is only flushing and exiting) ends it at once.
      if (!received) for (const name of Object.keys(SIGNALS) as StopSignal[]) process.off(name, onSignal);
    },
  };
}

/** Ends the process by `name`'s default action: no exit handler runs, nothing can hold it. */
function die(name: StopSignal): void {
  process.removeAllListeners(name);
  process.kill(process.pid, name);
}

/** Parses `--timeout <seconds>`: a positive number. */
export function timeoutOption(value: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidArgumentError(`--timeout must be a positive number of seconds (got "${value}")`);
  }
  return seconds;
}

/** The help of `--timeout`, the same for every command that takes it. */
export const TIMEOUT_HELP = 'fail, cleanly, if not done after this many seconds (default: no limit)';
