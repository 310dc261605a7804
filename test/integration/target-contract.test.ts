import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer, text } from 'node:stream/consumers';
import { describe, test } from 'node:test';
import { StorageError } from '../../shared/errors.js';
import { FileTarget } from '../../shared/targets/file-target.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import type { Target } from '../../shared/targets/target.js';
import { createBucket, observedS3Client, tempDir } from '../harness/test-env.js';

/** One contract, every target: what run-backup, list and verify rely on. */
const targets: Array<{ name: string; make: () => Promise<{ target: Target; sent?: string[] }> }> = [
  { name: 'directory', make: async () => ({ target: new FileTarget(join(await tempDir('contract'), 'nested/dir')) }) },
  {
    name: 's3',
    make: async () => {
      const { client, sent } = observedS3Client();
      return { target: new S3Target(`s3://${await createBucket('contract')}/some/prefix`, { client }), sent };
    },
  },
];

/** A body that yields some bytes, then fails like a dump that dies halfway. */
function failingBody(bytes: number): Readable {
  return Readable.from(
    (async function* () {
      for (let sent = 0; sent < bytes; sent += 1 << 20) yield Buffer.alloc(1 << 20, 7);
      throw new Error('source died');
    })(),
  );
}

for (const { name, make } of targets) {
  describe(`target contract: ${name}`, () => {
    test('put then get returns the same bytes, and stat and list report the size and when it was written', async () => {
      const { target } = await make();
      await target.preflight();
      const before = Date.now() - 2_000; // S3 rounds to the second
      const body = Buffer.from('hello\0world, ünïcødé');
      const stored = await target.put('a/b/c.bin', Readable.from([body]), { contentType: 'application/octet-stream' });
      assert.deepEqual(stored, { key: 'a/b/c.bin', size: body.length });
      assert.deepEqual(await buffer(await target.get('a/b/c.bin')), body);
      const { modified, ...stat } = (await target.stat('a/b/c.bin')) ?? {};
      // No lock holds it: retention only ever holds what prune must not delete.
      assert.deepEqual(stat, { key: 'a/b/c.bin', size: body.length });
      assert.ok(modified && modified.getTime() >= before && modified.getTime() <= Date.now() + 2_000, String(modified));
      const listed = [];
      for await (const o of target.list('a/')) listed.push(o);
      assert.deepEqual(
        listed.map(({ modified: m, ...rest }) => ({ ...rest, recent: m !== undefined && m.getTime() >= before })),
        [{ key: 'a/b/c.bin', size: body.length, recent: true }],
      );
    });

    test('a multi-part body (20 MiB) arrives intact', async () => {
      const { target } = await make();
      await target.preflight();
      const part = Buffer.alloc(1 << 20);
      for (let i = 0; i < part.length; i++) part[i] = (i * 31) & 0xff;
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < 20; i++) yield part;
        })(),
      );
      const stored = await target.put('big.bin', body, { contentType: 'application/octet-stream', expectedSizeBytes: 20 << 20 });
      assert.equal(stored.size, 20 << 20);
      const back = await buffer(await target.get('big.bin'));
      assert.equal(back.length, 20 << 20);
      assert.deepEqual(back.subarray((19 << 20) + 5, (19 << 20) + 10), part.subarray(5, 10));
    });

    test('a body that fails halfway leaves nothing at the key and no upload open', async () => {
      const { target, sent } = await make();
      await target.preflight();
      await assert.rejects(
        target.put('broken.bin', failingBody(20 << 20), { contentType: 'application/octet-stream' }),
        /source died/,
      );
      assert.equal(await target.stat('broken.bin'), undefined);
      // Nothing stays: no object, and a directory target that did not exist before does not now.
      const listed: string[] = [];
      try {
        for await (const o of target.list('')) listed.push(o.key);
      } catch (error) {
        if (!(error instanceof StorageError && error.notFound)) throw error;
      }
      assert.deepEqual(listed, []);
      if (sent) {
        assert.ok(sent.includes('CreateMultipartUploadCommand'));
        assert.ok(sent.includes('AbortMultipartUploadCommand'));
        assert.ok(!sent.includes('CompleteMultipartUploadCommand'));
      }
    });

    test('an existing key is never overwritten', async () => {
      const { target } = await make();
      await target.preflight();
      await target.put('once.txt', Readable.from([Buffer.from('first')]), { contentType: 'text/plain' });
      await assert.rejects(
        target.put('once.txt', Readable.from([Buffer.from('second')]), { contentType: 'text/plain' }),
        StorageError,
      );
      assert.equal(await text(await target.get('once.txt')), 'first');
    });

    test('a multi-part body never overwrites an existing key either, and leaves no upload open', async () => {
      const { target, sent } = await make();
      await target.preflight();
      await target.put('once.bin', Readable.from([Buffer.from('first')]), { contentType: 'application/octet-stream' });
      const body = Readable.from(
        (function* () {
          for (let i = 0; i < 20; i++) yield Buffer.alloc(1 << 20, 1);
        })(),
      );
      await assert.rejects(
        target.put('once.bin', body, { contentType: 'application/octet-stream', expectedSizeBytes: 20 << 20 }),
        (e: unknown) => e instanceof StorageError && /already exists; backups are never overwritten/.test(e.message),
      );
      assert.equal(await text(await target.get('once.bin')), 'first');
      if (sent) {
        assert.ok(sent.includes('CompleteMultipartUploadCommand'), 'S3 itself refused the write');
        assert.ok(sent.includes('AbortMultipartUploadCommand'));
      }
    });

    test('get of a missing key fails as not found; stat returns undefined; delete is idempotent', async () => {
      const { target } = await make();
      await target.preflight();
      await assert.rejects(target.get('missing.bin'), (e: unknown) => e instanceof StorageError && e.notFound);
      assert.equal(await target.stat('missing.bin'), undefined);
      await target.put('gone.txt', Readable.from([Buffer.from('x')]), { contentType: 'text/plain' });
      await target.delete('gone.txt');
      await target.delete('gone.txt');
      assert.equal(await target.stat('gone.txt'), undefined);
    });

    test('seal accepts the stored size and rejects another', async () => {
      const { target } = await make();
      await target.preflight();
      await target.put('sealed.bin', Readable.from([Buffer.from('12345')]), { contentType: 'application/octet-stream' });
      await target.seal('sealed.bin', { size: 5, sha256: 'a'.repeat(64) });
      await assert.rejects(target.seal('sealed.bin', { size: 6, sha256: 'a'.repeat(64) }), /holds 5 bytes but 6/);
    });
  });
}

/** Each target whose root does not exist (a directory never created, a bucket never made), and an empty one. */
const rootlessTargets: Array<{ name: string; missing: () => Promise<Target>; empty: () => Promise<Target> }> = [
  {
    name: 'directory',
    missing: async () => new FileTarget(join(await tempDir('contract'), 'never/made')),
    empty: async () => new FileTarget(await tempDir('contract')),
  },
  {
    name: 's3',
    missing: async () => new S3Target(`s3://never-made-${Date.now().toString(36)}/p`, { client: observedS3Client().client }),
    empty: async () => new S3Target(`s3://${await createBucket('contract')}/p`, { client: observedS3Client().client }),
  },
];

for (const { name, missing, empty } of rootlessTargets) {
  test(`target contract: ${name}: listing a target that does not exist fails as not found; an empty one lists nothing`, async () => {
    const keys = async (target: Target) => {
      const listed = [];
      for await (const object of target.list('')) listed.push(object.key);
      return listed;
    };
    await assert.rejects(keys(await missing()), (e: unknown) => e instanceof StorageError && e.notFound);
    assert.deepEqual(await keys(await empty()), []);
  });
}

describe('directory target specifics', () => {
  test('a crash leaves only a .tmp file, which list ignores', async () => {
    const root = await tempDir('crash');
    await fs.mkdir(join(root, 'x'), { recursive: true });
    await fs.writeFile(join(root, 'x/backup.db.gz.tmp'), 'partial');
    const target = new FileTarget(root);
    const listed = [];
    for await (const o of target.list('')) listed.push(o.key);
    assert.deepEqual(listed, []);
  });
});
