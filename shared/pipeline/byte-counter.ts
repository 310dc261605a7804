import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DumpError } from '../errors.js';
import type { Settings } from '../settings.js';
import type { ChainProgram } from './program-chain.js';
import { askedOnce, firstExecutable } from './program-probe.js';
import { runCommand } from './run-command.js';

/**
 * A program that copies its stdin to its stdout and says at the end how many bytes it copied:
 * GNU dd. Between a dump and its compressor it measures the dump (the manifest's
 * `source_size_bytes`) at the cost of one copy in C, where the dump passing through Node cost
 * far more. Its summary is read in the C locale: `511849818 bytes (512 MB, 488 MiB) copied, …`.
 */
export interface ByteCounter {
  readonly program: ChainProgram;
  /** The bytes it copied, from its summary once it has exited 0; undefined when the summary is not there. */
  counted(stderrTail: string): number | undefined;
  /**
   * The bytes it has passed on so far, while it runs (Linux's /proc/PID/io), for progress; undefined
   * where unknown, and once it has exited. What it wrote (wchar), not what it read (rchar): its
   * reads include the dynamic loader's of its libraries, so rchar ran ahead of the dump.
   */
  readSoFar(pid: number | undefined): number | undefined;
}

/** Whether the program at a path is GNU dd, whose summary is parsed below; only a yes is kept (`askedOnce`). */
const isGnuDd = askedOnce(
  (path) =>
    runCommand(path, ['--version'], { timeoutMs: 10_000, env: { LC_ALL: 'C' } }).then(
      (result) => result.code === 0 && /^dd \((GNU )?coreutils\)/.test(result.stdout),
      () => false,
    ),
  (gnu) => !gnu,
);

/**
 * The counter, when this machine has GNU dd on the search path; undefined otherwise (the dump
 * then passes through this process, which counts it itself). Another dd (BSD's, BusyBox's) words
 * its summary otherwise and is not relied on.
 */
export async function prepareByteCounter(settings: Settings): Promise<ByteCounter | undefined> {
  const path = firstExecutable(settings.searchPath.map((dir) => join(dir, 'dd')));
  if (!path || !(await isGnuDd(path))) return undefined;
  return {
    program: {
      command: path,
      // 64 KiB: a pipe's capacity, so each read is one write; C locale: the summary parsed below.
      args: ['bs=65536'],
      env: { LC_ALL: 'C' },
      describeFailure: ({ exit, spawnError }) =>
        new DumpError(
          spawnError
            ? `dd (${path}), which measures the dump on its way to the compressor, could not be started: ${spawnError.message}`
            : exit?.signal === 'SIGPIPE' || /Broken pipe/i.test(exit?.stderrTail ?? '')
              ? 'the compressor stopped reading before the end of the dump'
              : `dd, which measures the dump on its way to the compressor, failed (exit ${exit?.code ?? exit?.signal}): ${exit?.stderrTail.split('\n')[0] ?? ''}`,
          { hint: 'no backup was stored; run the backup again, and report this if it happens again' },
        ),
    },
    counted: (stderrTail) => {
      const matches = [...stderrTail.matchAll(/^(\d+) bytes? /gm)];
      const bytes = matches.at(-1)?.[1];
      return bytes === undefined ? undefined : Number(bytes);
    },
    readSoFar: (pid) => {
      if (pid === undefined) return undefined;
      try {
        const wchar = /^wchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1];
        return wchar === undefined ? undefined : Number(wchar);
      } catch {
        return undefined;
      }
    },
  };
}
