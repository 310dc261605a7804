import { join } from 'node:path';
import { type Duplex, PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ConfigError, DumpError, IntegrityError, StorageError, type Text } from '../errors.js';
import { type ChildExit, spawnDuplex, summarizeStderr } from '../pipeline/child-process-stream.js';
import { askedOnce, firstExecutable } from '../pipeline/program-probe.js';
import { runCommand } from '../pipeline/run-command.js';
import type { Settings } from '../settings.js';
import { checkCompressorOutput, type CompressorProgram, gzipMismatch } from './checked-output.js';
import { ParallelGzip } from './parallel-gzip.js';

/**
 * The program that writes and reads gzip, as the manifest records it: ISA-L's `igzip` (about five
 * times zlib's speed on dump data, standard gzip that every gunzip reads) or, without it, Node's
 * zlib on several threads (`ParallelGzip`).
 */
export type GzipImplementation =
  { readonly kind: 'igzip'; readonly path: string; readonly version: string } | { readonly kind: 'zlib' };

/** What the manifest's `compression_implementation` says for each. */
export function describeGzip(implementation: GzipImplementation): string {
  return implementation.kind === 'igzip' ? `isal-igzip ${implementation.version}` : `node-zlib-parallel ${process.versions.zlib}`;
}

const CHOICES = ['auto', 'igzip', 'zlib'] as const;
type GzipChoice = (typeof CHOICES)[number];

const IGZIP_HINT: Text =
  'install ISA-L (Debian: apt-get install isal), or unset DBBACKUP_GZIP and DBBACKUP_IGZIP to fall back to zlib';

function choiceOf(settings: Settings): GzipChoice {
  const choice = CHOICES.find((c) => c === settings.gzipImplementation);
  if (!choice) {
    throw new ConfigError(`DBBACKUP_GZIP must be auto, igzip or zlib (got "${settings.gzipImplementation}")`);
  }
  return choice;
}

/**
 * The igzip program to run, without running it: the one the settings name, else the first
 * executable `igzip` on the search path; undefined when there is none (or zlib is asked for).
 */
export function findIgzip(settings: Settings): string | undefined {
  if (choiceOf(settings) === 'zlib') return undefined;
  return firstExecutable(settings.igzipPath ? [settings.igzipPath] : settings.searchPath.map((dir) => join(dir, 'igzip')));
}

/**
 * `igzip --version` prints `igzip command line interface 2.30.0`; undefined when it does not run,
 * or is another program (gzip, pigz): the manifest would record it as ISA-L's igzip. Asked once
 * per process while it answers: a scheduler's process must not fall back to zlib (or, with
 * DBBACKUP_IGZIP, fail every backup) until restarted, after one probe that timed out under load.
 */
const igzipVersion = askedOnce(
  (path) =>
    runCommand(path, ['--version']).then(
      (result) =>
        result.code === 0 && /\bigzip\b/.test(result.stdout)
          ? (/(\d+\.\d+(?:\.\d+)?)/.exec(result.stdout)?.[1] ?? 'unknown')
          : undefined,
      () => undefined,
    ),
  (version) => version === undefined,
);

/**
 * Chooses the gzip implementation of a backup before any data moves: igzip when it is found and
 * answers `--version`, else zlib. Falling back is not an error (zlib writes the same format, only
 * slower), unless igzip was asked for by name (DBBACKUP_GZIP=igzip or DBBACKUP_IGZIP).
 */
export async function chooseGzip(settings: Settings): Promise<GzipImplementation> {
  const choice = choiceOf(settings);
  if (choice === 'zlib') return { kind: 'zlib' };
  const path = findIgzip(settings);
  const version = path ? await igzipVersion(path) : undefined;
  if (path && version) return { kind: 'igzip', path, version };
  if (choice === 'igzip' || settings.igzipPath) {
    const what = settings.igzipPath ?? 'igzip';
    throw new ConfigError(
      path
        ? `${what} does not run as ISA-L's igzip: asked its version, it failed or named another program`
        : `${what} was not found${settings.igzipPath ? '' : ' on PATH'}`,
      { hint: IGZIP_HINT },
    );
  }
  return { kind: 'zlib' };
}

/**
 * igzip's level for a gzip level on zlib's scale (1-9): igzip has four, 0-3, and its 0 stores
 * much larger output than zlib's 1, so 1-3 → 1, 4-6 → 2 (the default 5 lands here), 7-9 → 3.
 * The README's compression options show the table.
 */
export function igzipLevel(level: number): 1 | 2 | 3 {
  if (level <= 3) return 1;
  if (level <= 6) return 2;
  return 3;
}

/** How an igzip run ended, in one line without its "(null)" for standard input. */
function igzipSaid(exit: ChildExit | undefined): string {
  if (exit?.signal) return `killed by ${exit.signal}`;
  const said = summarizeStderr(exit?.stderrTail ?? '')
    .replace(/^igzip:\s*/, '')
    .replace(/\s*(for file )?\(null\)/g, '')
    .replace(/^Error\s+/, '');
  return said ? `${said} (exit ${exit?.code})` : `exit ${exit?.code}`;
}

/** The compressing stage for gzip at `level` (zlib's scale) with the chosen implementation. */
export function createGzipCompressor(implementation: GzipImplementation, level: number): Duplex {
  if (implementation.kind === 'zlib') return new ParallelGzip({ level });
  const { program, problem } = igzipProgram(implementation, level);
  const igzip = spawnDuplex(program.command, program.args, { describeFailure: program.describeFailure });
  // The CRC-32 of the dump costs about a tenth of igzip's time; without it a program that exits 0
  // having written anything else would be stored and recorded as a good backup.
  return checkCompressorOutput(igzip, problem, { inputCrc32: true });
}

/** igzip compressing stdin to stdout at zlib's `level`, and what its output must be (one gzip member of its input). */
export function igzipProgram(implementation: Extract<GzipImplementation, { kind: 'igzip' }>, level: number): CompressorProgram {
  return {
    // One thread: on a small machine the dump needs the other core, and one igzip thread outruns pg_dump.
    program: {
      command: implementation.path,
      args: ['-q', '-c', `-${igzipLevel(level)}`],
      describeFailure: ({ exit, spawnError }) =>
        new DumpError(
          spawnError
            ? `igzip (${implementation.path}) could not be started: ${spawnError.message}`
            : `igzip failed while compressing: ${igzipSaid(exit)}`,
          { hint: spawnError ? IGZIP_HINT : undefined },
        ),
    },
    problem: (io) => {
      const wrong = gzipMismatch(io);
      return wrong
        ? new DumpError(`igzip (${implementation.path}) exited 0 but did not write the gzip of the dump: ${wrong}`, {
            hint: "no backup was stored; point DBBACKUP_IGZIP (or PATH) at ISA-L's igzip, or set DBBACKUP_GZIP=zlib",
          })
        : undefined;
    },
  };
}

/**
 * The decompressing stage for gzip: igzip when it is found (any gzip reads with either, whichever
 * wrote it), else zlib's gunzip. Corrupt data is an IntegrityError (igzip) or a zlib `Z_` error,
 * both of which `isCorruptData` recognizes; igzip killed or not startable is neither.
 */
export function createGzipDecompressor(settings: Settings): Duplex {
  let path: string | undefined;
  try {
    path = findIgzip(settings);
    if (!path && (choiceOf(settings) === 'igzip' || settings.igzipPath)) {
      throw new ConfigError(`${settings.igzipPath ?? 'igzip'} was not found`, { hint: IGZIP_HINT });
    }
  } catch (error) {
    // A stage that fails as a stream does, in the pipeline it is put into: callers build it inside callbacks.
    return new PassThrough({ construct: (callback) => callback(error as Error) });
  }
  if (!path) return createGunzip();
  return spawnDuplex(path, ['-q', '-d', '-c'], {
    describeFailure: ({ exit, spawnError }) => {
      if (spawnError) {
        return new ConfigError(`igzip (${path}) could not be started: ${spawnError.message}`, { hint: IGZIP_HINT });
      }
      if (exit?.signal) return new StorageError(`reading the backup failed: igzip was ${igzipSaid(exit)}`);
      return new IntegrityError(`igzip could not decompress the backup: ${igzipSaid(exit)}`);
    },
  });
}
