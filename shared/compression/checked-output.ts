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
  /** What a walk of the output's frames found wrong (`frames`), if anything. */
  readonly framing?: string;
}

/** A walk of a compressor's output as it passes, chunk by chunk: `end` says what is wrong with it, if anything. */
export interface FrameWalk {
  write(chunk: Buffer): void;
  end(): string | undefined;
}

/** An external compressor: the program (stdin to stdout) and what is wrong with its output, if anything. */
export interface CompressorProgram {
  readonly program: ChainProgram;
  readonly problem: (io: CompressorIO) => Error | undefined;
  /** A walk of its output's frames, where its head and tail alone cannot show a stream cut short. */
  readonly frames?: () => FrameWalk;
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
  options: { inputCrc32?: boolean; frames?: () => FrameWalk } = {},
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
  const output = checkOutput(
    problem,
    async () => ({ inputBytes, inputCrc32: options.inputCrc32 ? inputCrc32 : undefined }),
    options.frames,
  );
  return compose(input, compressor, output);
}

/**
 * The output side of that check alone, for a compressor that reads its input from another
 * program (see `spawnChain`): `inputOf` says what went in, once the output has ended.
 */
export function checkOutput(
  problem: (io: CompressorIO) => Error | undefined,
  inputOf: () => Promise<{ inputBytes: number; inputCrc32?: number }>,
  frames?: () => FrameWalk,
): Transform {
  const walk = frames?.();
  let head = Buffer.alloc(0);
  let tail = Buffer.alloc(0);
  let outputBytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
      // Only the last 8 bytes are kept: a copy of each chunk would cost as much as the compression.
      tail = chunk.length >= 8 ? Buffer.from(chunk.subarray(-8)) : Buffer.concat([tail, chunk]).subarray(-8);
      outputBytes += chunk.length;
      walk?.write(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      const framing = walk?.end();
      inputOf().then((input) => callback(problem({ ...input, head, tail, outputBytes, framing })), callback);
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

/**
 * Whether `io` begins as a zstd frame (magic 28 b5 2f fd) and its frames, walked by `zstdFrames`,
 * end where it ends; zstd's own checksum is checked when it is read.
 */
export function zstdMismatch(io: CompressorIO): string | undefined {
  const magic = io.head.length >= 4 ? io.head.readUInt32LE(0) : undefined;
  if (magic !== 0xfd2fb528) return `its ${io.outputBytes}-byte output is not zstd`;
  return io.framing === undefined ? undefined : `its ${io.outputBytes}-byte output ${io.framing}`;
}

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50 to 0x184D2A5F, a 4-byte length, that many bytes. */
const isSkippableMagic = (magic: number) => magic >>> 4 === 0x184d2a5;

/**
 * A walk of a zstd stream's frames (RFC 8878): each frame's header, each block's 3-byte header
 * (its size skipped, not read), the checksum after the last block. Only headers are copied, so it
 * costs next to nothing; it finds a stream cut short or followed by something else, which the
 * magic alone let through (a compressor whose output was cut, exiting 0, was stored as a backup
 * that verify then refused).
 */
export function zstdFrames(): FrameWalk {
  let pending = Buffer.alloc(0);
  let want = 4;
  let skip = 0;
  let frames = 0;
  let inFrame = false;
  let checksum = false;
  let problem: string | undefined;
  let step: (bytes: Buffer) => void;
  const frameEnded = () => {
    inFrame = false;
    frames++;
    want = 4;
    step = magic;
  };
  const block = (bytes: Buffer) => {
    const header = bytes.readUIntLE(0, 3);
    const type = (header >> 1) & 3;
    if (type === 3) {
      problem = 'has a zstd block of the reserved type';
      return;
    }
    skip = type === 1 ? 1 : header >>> 3;
    if ((header & 1) === 0) {
      want = 3;
      step = block;
    } else if (checksum) {
      want = 4;
      step = frameEnded;
    } else {
      frameEnded();
    }
  };
  const descriptor = (bytes: Buffer) => {
    const d = bytes[0] as number;
    if (d & 0x08) {
      problem = 'has a zstd frame header with its reserved bit set';
      return;
    }
    const singleSegment = (d & 0x20) !== 0;
    const fcsFlag = d >> 6;
    const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 2 ** fcsFlag;
    const dictionaryBytes = [0, 1, 2, 4][d & 3] as number;
    checksum = (d & 0x04) !== 0;
    const rest = (singleSegment ? 0 : 1) + dictionaryBytes + fcsBytes;
    want = 3;
    step = block;
    skip = rest;
  };
  function magic(bytes: Buffer): void {
    const value = bytes.readUInt32LE(0);
    inFrame = true;
    if (value === ZSTD_MAGIC) {
      want = 1;
      step = descriptor;
    } else if (isSkippableMagic(value)) {
      want = 4;
      step = (size) => {
        skip = size.readUInt32LE(0);
        inFrame = false;
        want = 4;
        step = magic;
      };
    } else {
      problem = frames === 0 ? 'is not zstd' : 'goes on after its zstd frames with something else';
    }
  }
  step = magic;
  return {
    write(chunk) {
      let at = 0;
      while (at < chunk.length && problem === undefined) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - at);
          skip -= n;
          at += n;
          continue;
        }
        const n = Math.min(want - pending.length, chunk.length - at);
        pending = Buffer.concat([pending, chunk.subarray(at, at + n)]);
        at += n;
        if (pending.length === want) {
          const bytes = pending;
          pending = Buffer.alloc(0);
          step(bytes);
        }
      }
    },
    end() {
      if (problem !== undefined) return problem;
      if (inFrame || skip > 0 || pending.length > 0) return 'ends partway through a zstd frame';
      return frames === 0 ? 'holds no zstd frame' : undefined;
    },
  };
}
