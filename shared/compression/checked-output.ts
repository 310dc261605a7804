import * as stream from 'node:stream';
import { type Duplex, Transform } from 'node:stream';
import { crc32 } from 'node:zlib';
import type { ChainProgram } from '../pipeline/program-chain.js';

/** stream.compose (Node 16.9+), which this project's @types/node does not declare: errors and destroy reach every part. */
const compose = (stream as unknown as { compose: (...streams: Duplex[]) => Duplex }).compose;

/** What went into a compressor and what came out of it, for a check of the output's framing. */
export interface CompressorIO {
  /** CRC-32 (gzip's) of every byte written in, where this process saw them. */
  readonly inputCrc32?: number;
  readonly inputBytes: number;
  /** The first bytes written out (up to 8), and the last 8. */
  readonly head: Buffer;
  readonly tail: Buffer;
  readonly outputBytes: number;
}

/** An external compressor: the program (stdin to stdout) and what is wrong with its output, if anything. */
export interface CompressorProgram {
  readonly program: ChainProgram;
  readonly problem: (io: CompressorIO) => Error | undefined;
}

/**
 * Wraps an external compressor so that a program that exits 0 without writing what it should (a
 * wrong program on PATH or in DBBACKUP_IGZIP, one that stopped reading halfway) fails the backup
 * instead of being stored, hashed and recorded as good: its exit status is all spawnDuplex sees.
 * `problem` looks at the framing once the output has ended and says what is wrong, if anything.
 */
export function checkCompressorOutput(
  compressor: Duplex,
  problem: (io: CompressorIO) => Error | undefined,
  options: { inputCrc32?: boolean } = {},
): Duplex {
  let inputCrc32 = 0;
  let inputBytes = 0;
  const input = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (options.inputCrc32) inputCrc32 = crc32(chunk, inputCrc32);
      inputBytes += chunk.length;
      callback(null, chunk);
    },
  });
  const output = checkOutput(problem, async () => ({
    inputBytes,
    inputCrc32: options.inputCrc32 ? inputCrc32 : undefined,
  }));
  return compose(input, compressor, output);
}

/**
 * The output side of that check alone, for a compressor that reads its input from another
 * program (see `spawnChain`): `inputOf` says what went in, once the output has ended.
 */
export function checkOutput(
  problem: (io: CompressorIO) => Error | undefined,
  inputOf: () => Promise<{ inputBytes: number; inputCrc32?: number }>,
): Transform {
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  let outputBytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
      // Only the last 8 bytes are kept: a copy of each chunk would cost as much as the compression.
      tail = chunk.length >= 8 ? Buffer.from(chunk.subarray(-8)) : Buffer.concat([tail, chunk]).subarray(-8);
      outputBytes += chunk.length;
      callback(null, chunk);
    },
    flush(callback) {
      inputOf().then((input) => callback(problem({ ...input, head, tail, outputBytes })), callback);
    },
  });
}

/**
 * Whether `io` is one gzip member holding exactly the input: the header's magic and method, and a
 * trailer whose CRC-32 and length (mod 2^32) are the input's. igzip writes one member however
 * long the input, so its trailer covers all of it.
 */
export function gzipMismatch(io: CompressorIO): string | undefined {
  if (io.outputBytes < 18 || io.head[0] !== 0x1f || io.head[1] !== 0x8b || io.head[2] !== 8) {
    return `its ${io.outputBytes}-byte output is not gzip`;
  }
  const crcDiffers = io.inputCrc32 !== undefined && io.tail.readUInt32LE(0) !== io.inputCrc32;
  if (crcDiffers || io.tail.readUInt32LE(4) !== io.inputBytes % 2 ** 32) {
    return `its output's trailer does not match the dump (${io.inputCrc32 === undefined ? 'length' : 'CRC-32 and length'})`;
  }
  return undefined;
}

/** Whether `io` begins as a zstd frame (magic 28 b5 2f fd); zstd's own checksum is checked when it is read. */
export function zstdMismatch(io: CompressorIO): string | undefined {
  const magic = io.head.length >= 4 ? io.head.readUInt32LE(0) : undefined;
  return magic === 0xfd2fb528 ? undefined : `its ${io.outputBytes}-byte output is not zstd`;
}
