import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { type ChildExit, type ChildFailure, guardedOutput, watchChild } from './child-process-stream.js';

/** One program of a chain: what to run and what its failure says. */
export interface ChainProgram {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly describeFailure: ChildFailure;
}

/** Programs running as a shell pipeline runs them, each reading the one before it directly. */
export interface ProgramChain {
  /**
   * The last program's stdout. It ends only once every program has exited 0; otherwise it errors
   * with the failure of the last program that failed (see `spawnChain`). Destroying it stops them all.
   */
  readonly output: Readable;
  /** Each program's process id, in chain order (undefined for one that did not start). */
  readonly pids: ReadonlyArray<number | undefined>;
  /** How each program ended, in chain order. */
  readonly exits: ReadonlyArray<Promise<ChildExit>>;
}

/**
 * Starts `programs` so that each reads the previous one's stdout itself: the bytes between them
 * never pass through this process (a dump of hundreds of MB cost Node about a second of CPU on
 * its way to the compressor, on a machine whose two cores the dump and the compressor need).
 *
 * All are spawned in one synchronous run: a child's stdout starts being read by this process at
 * the next turn of the event loop, so it must be handed on (and this process's copy closed) before.
 *
 * The failure reported is the last program's that failed: an upstream program that failed (pg_dump
 * losing its connection) makes the ones after it see an early end and exit 0, while a downstream
 * one that failed (the compressor) makes the ones before it fail writing to it (SIGPIPE, EPIPE).
 */
export function spawnChain(
  programs: readonly ChainProgram[],
  options: { onFirstOutput?: () => void; stdin?: number } = {},
): ProgramChain {
  const children: ChildProcess[] = [];
  // The first program reads `stdin` (an open file's descriptor, which the caller closes) or nothing.
  let stdin: 'ignore' | number | Readable = options.stdin ?? 'ignore';
  for (const program of programs) {
    const child: ChildProcess = spawn(program.command, program.args, { env: program.env, stdio: [stdin, 'pipe', 'pipe'] });
    // This process's copy of the pipe: left open, a program whose reader died would block on it for ever.
    if (typeof stdin === 'object') stdin.destroy();
    children.push(child);
    stdin = child.stdout ?? 'ignore';
  }
  const watched = children.map((child, i) => watchChild(child, (programs[i] as ChainProgram).describeFailure));
  return {
    output: guardedOutput(watched, options.onFirstOutput),
    pids: children.map((c) => c.pid),
    exits: watched.map((w) => w.exited),
  };
}
