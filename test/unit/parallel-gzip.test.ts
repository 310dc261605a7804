import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ParallelGzip } from '../../shared/compression/parallel-gzip.js';

async function compress(input: Buffer, options: ConstructorParameters<typeof ParallelGzip>[0], chunk = 65536): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) chunks.push(input.subarray(i, i + chunk));
  return buffer(Readable.from(chunks).pipe(new ParallelGzip(options)));
}

/** Text that compresses like a real dump: repetitive structure with varying values. */
function dumpLike(bytes: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `${i}\tcustomer ${i % 977}\t{"k": ${i * 7}, "v": "${randomBytes(6).toString('hex')}"}\t2024-01-${(i % 28) + 1}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

describe('ParallelGzip', () => {
  const blockSize = 64 * 1024;
  for (const size of [0, 1, blockSize - 1, blockSize, blockSize + 1, Math.floor(blockSize * 5.5)]) {
    test(`${size} bytes round-trip through gunzip, in order`, async () => {
      const input = dumpLike(size);
      const output = await compress(input, { blockSize, inFlight: 3 }, 10_000);
      assert.deepEqual(gunzipSync(output), input);
    });
  }

  test('the multi-member output is one valid file for the gzip program too', async () => {
    const input = dumpLike(1_000_000);
    const output = await compress(input, { blockSize: 100_000 });
    const result = spawnSync('gzip', ['-dc'], { input: output, maxBuffer: 10 << 20 });
    assert.equal(result.status, 0, String(result.stderr));
    assert.deepEqual(result.stdout, input);
    assert.equal(spawnSync('gzip', ['-t'], { input: output }).status, 0);
  });

  test('with the default 1 MiB blocks, the output is within 1% of single-stream gzip at the same level', async () => {
    const input = dumpLike(8 << 20);
    const parallel = await compress(input, { level: 6 });
    const single = gzipSync(input, { level: 6 });
    assert.ok(parallel.length <= single.length * 1.01, `parallel ${parallel.length} vs single ${single.length}`);
  });

  test('the level is applied', async () => {
    const input = dumpLike(2 << 20);
    const fast = await compress(input, { level: 1 });
    const small = await compress(input, { level: 9 });
    assert.ok(small.length < fast.length);
  });
});
