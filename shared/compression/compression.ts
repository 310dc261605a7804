import { type Duplex, PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ConfigError, DumpError, IntegrityError, type Text } from '../errors.js';
import { spawnDuplex } from '../pipeline/child-process-stream.js';
import { runCommand } from '../pipeline/run-command.js';
import type { Settings } from '../settings.js';
import { checkCompressorOutput, type CompressorProgram, zstdFrames, zstdMismatch } from './checked-output.js';
import { chooseGzip, createGzipCompressor, createGzipDecompressor, describeGzip, igzipProgram } from './gzip-implementation.js';

/** The compressions a backup can be stored with. */
export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Level range and default of each compression; `none` has no level. */
export const COMPRESSION_LEVELS: Record<Compression, { min: number; max: number; default: number } | undefined> = {
  // zlib's scale whichever implementation runs (igzip maps it onto its 1-3: see igzipLevel). 5, not
  // zlib's 6: on dump data zlib's 6 took 47% longer for 1% smaller output (see README, Performance).
  gzip: { min: 1, max: 9, default: 5 },
  // zstd's own scale. 2, not zstd's 3: in the backup pipeline, on the bench's dumps, 3 took 1.4-1.6x
  // the CPU of 2 for output 3% larger (mixed) or 3% smaller (text); see README, Compression.
  zstd: { min: 1, max: 19, default: 2 },
  none: undefined,
};

/** The file name suffix of each compression (after the format's own extension). */
export const COMPRESSION_SUFFIX: Record<Compression, string> = { gzip: '.gz', zstd: '.zst', none: '' };

/** Returns the level to use, checking it is in range: `gzip level must be 1-9 (got 12)`. */
export function resolveLevel(compression: Compression, level: number | undefined): number | undefined {
  const range = COMPRESSION_LEVELS[compression];
  if (!range) {
    if (level !== undefined) {
      throw new ConfigError((w) => `${w.option('level')} does not apply to compression "none" (got ${level})`);
    }
    return undefined;
  }
  if (level === undefined) return range.default;
  if (!Number.isInteger(level) || level < range.min || level > range.max) {
    throw new ConfigError(`${compression} level must be ${range.min}-${range.max} (got ${level})`);
  }
  return level;
}

const ZSTD_HINT: Text = (w) => `install zstd (Debian: apt-get install zstd) or use ${w.setting('compression', 'gzip')}`;

/** A backup's compressing stage, chosen before any data moves. */
export interface PreparedCompressor {
  /** What the manifest records as `compression_implementation`: `isal-igzip 2.30.0`, `zstd 1.5.7`; undefined for none. */
  readonly implementation: string | undefined;
  /** Creates the compressing stage of the backup pipeline. */
  create(): Duplex;
  /**
   * The compressor as a program of its own, for a dump that is itself a program's output to feed
   * it directly (`spawnChain`); undefined when it runs in this process (zlib) or there is none.
   */
  readonly program?: CompressorProgram;
}

/**
 * Chooses the implementation of a compression and checks it runs, before any work: zstd must be
 * installed; gzip uses igzip when it can, else zlib (see `chooseGzip`).
 */
export async function prepareCompressor(
  compression: Compression,
  level: number | undefined,
  settings: Settings,
): Promise<PreparedCompressor> {
  switch (compression) {
    case 'gzip': {
      const implementation = await chooseGzip(settings);
      return {
        implementation: describeGzip(implementation),
        create: () => createGzipCompressor(implementation, level ?? 5),
        program: implementation.kind === 'igzip' ? igzipProgram(implementation, level ?? 5) : undefined,
      };
    }
    case 'zstd':
      return {
        implementation: `zstd ${await zstdVersion()}`,
        create: () => createZstdCompressor(level),
        program: zstdProgram(level),
      };
    case 'none':
      return { implementation: undefined, create: () => new PassThrough() };
  }
}

/** `zstd --version` prints `*** Zstandard CLI (64-bit) v1.5.7, by Yann Collet ***`. */
async function zstdVersion(): Promise<string> {
  try {
    const result = await runCommand('zstd', ['--version']);
    if (result.code !== 0) throw new Error(result.stderr);
    return /v(\d+\.\d+\.\d+)/.exec(result.stdout)?.[1] ?? 'unknown';
  } catch (cause) {
    throw new ConfigError('zstd compression needs the zstd program, which was not found on PATH', {
      hint: ZSTD_HINT,
      cause,
    });
  }
}

function createZstdCompressor(level: number | undefined): Duplex {
  const { program, problem, frames } = zstdProgram(level);
  return checkCompressorOutput(
    spawnDuplex(program.command, program.args, { describeFailure: program.describeFailure }),
    problem,
    {
      frames,
    },
  );
}

function zstdProgram(level: number | undefined): CompressorProgram {
  return {
    // -T0: one worker per core, so zstd keeps up with pg_dump where it has the cores; it streams
    // with bounded memory (a few MB per worker at the default level).
    program: {
      command: 'zstd',
      args: ['-q', '-c', '-T0', `-${level ?? COMPRESSION_LEVELS.zstd?.default}`],
      describeFailure: ({ exit, spawnError }) =>
        new DumpError(
          spawnError
            ? `zstd could not be started: ${spawnError.message}`
            : `zstd failed (exit ${exit?.code ?? exit?.signal}): ${exit?.stderrTail || 'no message'}`,
          { hint: spawnError ? ZSTD_HINT : undefined },
        ),
    },
    // The frames' framing, not their content: zstd's content checksum is XXH64, which Node lacks;
    // a wrong program on PATH writes no zstd frame at all, and a cut stream ends inside one.
    frames: zstdFrames,
    problem: (io) => {
      const wrong = zstdMismatch(io);
      return wrong
        ? new DumpError(`zstd exited 0 but did not write zstd: ${wrong}`, {
            hint: 'no backup was stored; put the real zstd (Debian: apt-get install zstd) first on PATH',
          })
        : undefined;
    },
  };
}

/**
 * Whether an error from a decompression pipeline means the compressed bytes are corrupt (zlib's
 * Z_DATA_ERROR, or Z_BUF_ERROR for a truncated stream); zstd's and igzip's are IntegrityErrors already.
 */
export function isCorruptData(error: unknown): boolean {
  if (error instanceof IntegrityError) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Creates a stream that decompresses stored bytes; see {@link isCorruptData} for its errors. gzip
 * is read by igzip when present, else zlib, whichever implementation wrote it; a read of only the
 * head (`partial`) uses zlib, whose in-process buffers stop within a few KB of what the reader
 * took, where igzip reads ahead by a megabyte or more and its speed buys nothing.
 */
export function createDecompressor(compression: Compression, settings: Settings, options: { partial?: boolean } = {}): Duplex {
  switch (compression) {
    case 'gzip':
      return options.partial ? createGunzip() : createGzipDecompressor(settings);
    case 'zstd':
      return spawnDuplex('zstd', ['-q', '-d', '-c'], {
        describeFailure: ({ exit, spawnError }) =>
          spawnError
            ? new ConfigError(`zstd could not be started: ${spawnError.message}`, { hint: ZSTD_HINT })
            : new IntegrityError(`zstd could not decompress the backup: ${exit?.stderrTail || `exit ${exit?.code}`}`),
      });
    case 'none':
      return new PassThrough();
  }
}
