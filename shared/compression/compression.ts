import { type Duplex, PassThrough } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { ConfigError, DumpError, IntegrityError, type Text } from '../errors.js';
import { spawnDuplex } from '../pipeline/child-process-stream.js';
import { runCommand } from '../pipeline/run-command.js';
import { ParallelGzip } from './parallel-gzip.js';

/** The compressions a backup can be stored with. */
export const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/** Level range and default of each compression; `none` has no level. */
export const COMPRESSION_LEVELS: Record<Compression, { min: number; max: number; default: number } | undefined> = {
  // 5, not zlib's 6: on dump data level 6 took 47% longer for 1% smaller output (see README, Performance).
  gzip: { min: 1, max: 9, default: 5 },
  zstd: { min: 1, max: 19, default: 3 },
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

/** Fails before any work if a compression needs a program that is not installed. */
export async function checkCompressionAvailable(compression: Compression): Promise<void> {
  if (compression !== 'zstd') return;
  try {
    const result = await runCommand('zstd', ['--version']);
    if (result.code !== 0) throw new Error(result.stderr);
  } catch (cause) {
    throw new ConfigError('zstd compression needs the zstd program, which was not found on PATH', {
      hint: ZSTD_HINT,
      cause,
    });
  }
}

/** Creates the compressing stage of the backup pipeline. */
export function createCompressor(compression: Compression, level: number | undefined): Duplex {
  switch (compression) {
    case 'gzip':
      return new ParallelGzip({ level });
    case 'zstd':
      // -T0: one worker per core; zstd streams with bounded memory (a few MB at level 3).
      return spawnDuplex('zstd', ['-q', '-c', '-T0', `-${level ?? 3}`], {
        describeFailure: ({ exit, spawnError }) =>
          new DumpError(
            spawnError
              ? `zstd could not be started: ${spawnError.message}`
              : `zstd failed (exit ${exit?.code ?? exit?.signal}): ${exit?.stderrTail || 'no message'}`,
            { hint: spawnError ? ZSTD_HINT : undefined },
          ),
      });
    case 'none':
      return new PassThrough();
  }
}

/**
 * Whether an error from a decompression pipeline means the compressed bytes are corrupt (zlib's
 * Z_DATA_ERROR, or Z_BUF_ERROR for a truncated stream); zstd failures are IntegrityErrors already.
 */
export function isCorruptData(error: unknown): boolean {
  if (error instanceof IntegrityError) return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/** Creates a stream that decompresses stored bytes; see {@link isCorruptData} for its errors. */
export function createDecompressor(compression: Compression): Duplex {
  switch (compression) {
    case 'gzip':
      return createGunzip();
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
