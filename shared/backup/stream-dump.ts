import { type Duplex, pipeline } from 'node:stream';
import { type CompressorProgram, checkOutput } from '../compression/checked-output.js';
import type { Dump } from '../engines/engine.js';
import { DumpError } from '../errors.js';
import type { ByteCounter } from '../pipeline/byte-counter.js';
import { Meter } from '../pipeline/meter.js';

/** How many bytes the dump has written: so far (progress), and in all once it has ended. */
export interface DumpedBytes {
  soFar(): number;
  total(): Promise<number>;
}

/**
 * Starts the dump's bytes on their way into `stored`: through the programs the engine ran it into
 * (`dump.chain`: the counter's summary measures it, the compressor's output is checked against
 * it), or through this process, which measures it and compresses it (`compress`).
 */
export function streamDump(
  dump: Dump,
  fed: { compressor: CompressorProgram; counter: ByteCounter } | undefined,
  compress: () => Duplex,
  stored: Meter,
): { piped: Promise<Error | undefined>; sourceBytes: DumpedBytes } {
  const { chain } = dump;
  if (chain && fed) {
    // The chain ends [… counter, compressor] (after the dump's own program, if it is one); its output
    // ends only once every program exited 0.
    const counterPid = chain.pids.at(-2);
    const counted = async (): Promise<number> => {
      const bytes = fed.counter.counted((await chain.exits.at(-2))?.stderrTail ?? '');
      if (bytes === undefined) throw new DumpError('dd did not say how many bytes of the dump it passed on');
      return bytes;
    };
    // The output is held to the dump's length (gzip's trailer keeps it mod 2^32); its CRC-32 would
    // need the dump's bytes here, which is what feeding the compressor directly saves.
    const checked = checkOutput(fed.compressor.problem, async () => ({ inputBytes: await counted() }), fed.compressor.frames);
    const piped = new Promise<Error | undefined>((resolve) => {
      pipeline(dump.stream, checked, stored, (error) => resolve(error ?? undefined));
    });
    // Progress never goes back: once dd has exited its /proc entry is gone (the compressor and the
    // upload may still be finishing), and its summary says exactly what it passed on.
    let passed = 0;
    let exact: number | undefined;
    void chain.exits.at(-2)?.then((exit) => {
      exact = fed.counter.counted(exit.stderrTail);
    });
    const soFar = () => {
      passed = Math.max(passed, exact ?? fed.counter.readSoFar(counterPid) ?? 0);
      return passed;
    };
    return { piped, sourceBytes: { soFar, total: counted } };
  }
  const source = new Meter();
  const piped = new Promise<Error | undefined>((resolve) => {
    pipeline(dump.stream, source, compress(), stored, (error) => resolve(error ?? undefined));
  });
  return { piped, sourceBytes: { soFar: () => source.bytes, total: async () => source.bytes } };
}
