import { type ChildProcess, spawn } from 'node:child_process';
import { Duplex, type Readable, Transform } from 'node:stream';
import { tiedToThisProcess } from './run-command.js';

/** How a child process ended, with the last lines it wrote to stderr. */
export interface ChildExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderrTail: string;
}

/** Turns a failed exit (or a spawn error such as ENOENT) into the error the caller wants to show. */
export type ChildFailure = (failure: { exit?: ChildExit; spawnError?: NodeJS.ErrnoException }) => Error;

export interface ChildStreamOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly describeFailure: ChildFailure;
  /** Called once, when the first output byte arrives (without consuming anything). */
  readonly onFirstOutput?: () => void;
  /** Start it through a watchdog that stops it once this process is gone, even by SIGKILL (see `runCommand`). */
  readonly diesWithThisProcess?: boolean;
}

/**
 * Streams a child's stdout. The stream ends only after the child has exited 0; any other exit
 * makes it error instead, so a consumer never mistakes the output of a process that died
 * halfway for a complete one (the failure mode of tools that trust the first bytes).
 * Destroying the stream kills the child.
 */
export function spawnReadable(command: string, args: readonly string[], options: ChildStreamOptions): Readable {
  const child = spawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  return guardOutput(child, options);
}

/**
 * Runs a child as a transform: bytes written go to its stdin, its stdout is readable. Both
 * sides complete only after the child has exited 0: the writable side's 'finish' waits for the
 * exit (so a pipeline into a checker such as pg_restore resolves only once it has passed), and
 * the readable side ends only then too. Any other exit errors the stream.
 */
export function spawnDuplex(command: string, args: readonly string[], options: ChildStreamOptions): Duplex {
  const [file, argv] = options.diesWithThisProcess ? tiedToThisProcess(command, args) : [command, args];
  const child = spawn(file, argv, { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
  return new ChildDuplex(child, guardOutput(child, options));
}

class ChildDuplex extends Duplex {
  private pendingWrite: ((error?: Error | null) => void) | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly output: Readable,
  ) {
    super();
    const stdin = child.stdin as NonNullable<ChildProcess['stdin']>;
    // A child that exits early closes its stdin (EPIPE); its exit status explains more, and the
    // output side reports it. Release any write waiting for 'drain' so nothing hangs.
    stdin.on('error', () => this.releaseWrite());
    stdin.on('close', () => this.releaseWrite());
    output.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) output.pause();
    });
    output.on('end', () => this.push(null));
    output.on('error', (error) => this.destroy(error));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed || stdin.write(chunk)) {
      callback();
      return;
    }
    this.pendingWrite = callback;
    stdin.once('drain', () => this.releaseWrite());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin?.end();
    // Finish only when the output side has seen the exit: 'end' after exit 0, 'error' otherwise.
    if (this.output.readableEnded) {
      callback();
      return;
    }
    this.output.once('end', () => callback());
    this.output.once('error', (error) => callback(error));
  }

  override _read(): void {
    this.output.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.releaseWrite();
    this.child.stdin?.destroy();
    this.output.destroy();
    callback(error);
  }

  private releaseWrite(): void {
    const callback = this.pendingWrite;
    this.pendingWrite = undefined;
    callback?.();
  }
}

/** How long a child stopped with SIGTERM (its stream destroyed) has to exit before it gets SIGKILL. */
export const KILL_GRACE_MS = 3_000;

/** Bytes of a child's stderr kept for its error message: the end says what went wrong. */
export const STDERR_KEPT_BYTES = 8192;

/**
 * The one line of a client program's stderr worth showing: PostgreSQL's programs print
 * `pg_dump: error: …` and then detail lines, so the first error line, else the last line.
 */
export function summarizeStderr(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.find((l) => /\berror\b/i.test(l)) ?? lines.at(-1) ?? '').slice(0, 500);
}

/**
 * Stops a child that is still running: SIGTERM now, and SIGKILL if it has not exited within
 * KILL_GRACE_MS or when this process exits first. A child that ignores SIGTERM (or is stuck
 * writing to a pipe nobody reads) must still go: the grace timer does not keep this process
 * alive, and the CLI exits well within it once its command has ended, which left such a child
 * running after the run had reported itself stopped.
 */
export function stopChild(child: ChildProcess, exited: Promise<unknown>): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const timer = setTimeout(kill, KILL_GRACE_MS);
  timer.unref();
  process.once('exit', kill);
  void exited.then(() => {
    clearTimeout(timer);
    process.removeListener('exit', kill);
  });
}

function guardOutput(child: ChildProcess, options: ChildStreamOptions): Readable {
  return guardedOutput([watchChild(child, options.describeFailure)], options.onFirstOutput);
}

/** A started child: its exit watched from the start, its stderr's tail kept, and what its failure says. */
export interface WatchedChild {
  readonly child: ChildProcess;
  readonly exited: Promise<ChildExit>;
  readonly describeFailure: ChildFailure;
  /** Why it could not be started (ENOENT, EACCES), once known; undefined while it runs or after it ran. */
  spawnError(): NodeJS.ErrnoException | undefined;
}

export function watchChild(child: ChildProcess, describeFailure: ChildFailure): WatchedChild {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_KEPT_BYTES);
  });
  let spawnError: NodeJS.ErrnoException | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      spawnError = err;
      resolve({ code: null, signal: null, stderrTail: stderr });
    });
    child.on('close', (code, signal) => resolve({ code, signal, stderrTail: stderr.trim() }));
  });
  return { child, exited, describeFailure, spawnError: () => spawnError };
}

/**
 * The last child's stdout, guarded: it ends only after every child has exited 0, and otherwise
 * errors with the failure of the last one that failed (see `spawnChain` for why the last).
 * Destroying it stops every child still running.
 */
export function guardedOutput(watched: readonly WatchedChild[], onFirstOutput?: () => void): Readable {
  let seenOutput = false;
  const guard = new Transform({
    transform(chunk, _encoding, callback) {
      if (!seenOutput) {
        seenOutput = true;
        onFirstOutput?.();
      }
      callback(null, chunk);
    },
    flush(callback) {
      Promise.all(watched.map((w) => w.exited)).then((ended) => {
        for (let i = ended.length - 1; i >= 0; i--) {
          const { describeFailure, spawnError } = watched[i] as WatchedChild;
          const exit = ended[i] as ChildExit;
          const notStarted = spawnError();
          if (notStarted) return callback(describeFailure({ spawnError: notStarted }));
          if (exit.code !== 0) return callback(describeFailure({ exit }));
        }
        callback();
      }, callback);
    },
    destroy(error, callback) {
      for (const { child, exited, spawnError } of watched) if (!spawnError()) stopChild(child, exited);
      callback(error);
    },
  });
  const last = watched.at(-1)?.child;
  // No stdout will ever come from a last child that could not start: end the guard so flush reports why.
  last?.on('error', () => {
    if (!guard.writableEnded) guard.end();
  });
  last?.stdout?.pipe(guard);
  return guard;
}
