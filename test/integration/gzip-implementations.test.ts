import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { chooseGzip } from '../../shared/compression/gzip-implementation.js';
import type { Manifest } from '../../shared/manifest.js';
import { readSettings } from '../../shared/settings.js';
import { assertOnlyFailedRunRecord, cli, run, sampleCopy, tempDir } from '../harness/test-env.js';
import { sqliteContents } from '../harness/sqlite-contents.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

/** The environments of the two gzip implementations: igzip found on PATH (as in the image), or zlib by setting. */
const IGZIP_ENV = { ...process.env, DBBACKUP_GZIP: 'auto' };
const ZLIB_ENV = { ...process.env, DBBACKUP_GZIP: 'zlib' };

async function backup(source: string, target: string, args: string[], env: NodeJS.ProcessEnv): Promise<Manifest> {
  const result = await cli(['backup', '--source', source, '--target', target, '--json', ...args], { env });
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Manifest;
}

async function chinookCopy(dir: string): Promise<string> {
  const path = join(dir, 'app.db');
  await fs.copyFile(chinook, path);
  return path;
}

/** Flips one byte inside the compressed data and rewrites the manifest to match, so only decompression can notice. */
async function corruptInside(dir: string, manifest: Manifest): Promise<void> {
  const file = join(dir, manifest.key);
  const bytes = await fs.readFile(file);
  const at = Math.floor(bytes.length / 2);
  bytes[at] = (bytes[at] as number) ^ 0x55;
  await fs.writeFile(file, bytes);
  const forged = { ...manifest, hash: createHash('sha256').update(bytes).digest('hex') };
  await fs.writeFile(`${file}.json`, JSON.stringify(forged));
}

describe('gzip implementations', () => {
  const paths = [
    { name: 'gzip via igzip', env: IGZIP_ENV, args: [], implementation: /^isal-igzip \d+\.\d+/ },
    { name: 'gzip via zlib (forced by DBBACKUP_GZIP=zlib)', env: ZLIB_ENV, args: [], implementation: /^node-zlib-parallel / },
    { name: 'zstd', env: IGZIP_ENV, args: ['--compression', 'zstd'], implementation: /^zstd \d+\.\d+\.\d+$/ },
    { name: 'none', env: IGZIP_ENV, args: ['--compression', 'none'], implementation: undefined },
  ];
  for (const path of paths) {
    test(`${path.name}: backup, verify and restore round-trip, and the manifest names the implementation`, async () => {
      const dir = await tempDir('gzip-impl');
      const db = await chinookCopy(dir);
      const original = sqliteContents(db);
      const manifest = await backup(db, join(dir, 'b'), path.args, path.env);
      if (path.implementation) assert.match(manifest.compression_implementation ?? '', path.implementation);
      else assert.equal(manifest.compression_implementation, undefined);

      const verified = await cli(['verify', '--target', join(dir, 'b'), '--latest'], { env: path.env });
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      await fs.writeFile(db, '');
      const restored = await cli(
        ['restore', '--path', manifest.location, '--to', `sqlite://${db}`, '--confirm', 'app.db', '--no-safety-backup'],
        { env: path.env },
      );
      assert.equal(restored.code, 0, restored.stderr);
      assert.deepEqual(sqliteContents(db), original);
    });
  }

  test("igzip's .gz is read by plain gzip -d, and zlib's by igzip -d; each verifies under the other implementation", async () => {
    const dir = await tempDir('gzip-cross');
    const fromIgzip = await backup(chinook, join(dir, 'igzip'), [], IGZIP_ENV);
    const fromZlib = await backup(chinook, join(dir, 'zlib'), [], ZLIB_ENV);
    // run() decodes its output as text: compare hashes of the raw bytes, taken in the shell.
    const sha = (command: string) => run('sh', ['-c', `${command} | sha256sum`]).then((r) => r.stdout.split(' ')[0]);
    const want = createHash('sha256')
      .update(gunzipSync(await fs.readFile(fromZlib.location)))
      .digest('hex');
    assert.equal(await sha(`gzip -d -c '${fromIgzip.location}'`), want);
    assert.equal(await sha(`igzip -d -c '${fromZlib.location}'`), want);

    const zlibReadsIgzip = await cli(['verify', '--target', join(dir, 'igzip'), '--latest'], { env: ZLIB_ENV });
    assert.equal(zlibReadsIgzip.code, 0, zlibReadsIgzip.stdout + zlibReadsIgzip.stderr);
    const igzipReadsZlib = await cli(['verify', '--target', join(dir, 'zlib'), '--latest'], { env: IGZIP_ENV });
    assert.equal(igzipReadsZlib.code, 0, igzipReadsZlib.stdout + igzipReadsZlib.stderr);
  });

  for (const [name, env, says] of [
    ['igzip', IGZIP_ENV, /igzip could not decompress the backup: .+/],
    ['zlib', ZLIB_ENV, /the backup cannot be decompressed: .+/],
  ] as const) {
    test(`a corrupted .gz fails verify with one line under ${name}`, async () => {
      const dir = await tempDir('gzip-corrupt');
      const manifest = await backup(chinook, dir, [], env);
      await corruptInside(dir, manifest);
      const result = await cli(['verify', '--target', dir, '--latest'], { env });
      assert.equal(result.code, 3, result.stdout + result.stderr);
      const lines = result.stdout.trim().split('\n');
      assert.equal(lines.length, 1, result.stdout);
      assert.match(lines[0] ?? '', /^CORRUPT {2}backup_Chinook_Sqlite_.*: the content is corrupt: /);
      assert.match(lines[0] ?? '', says);
    });
  }

  test('igzip missing from PATH: gzip falls back to zlib, not an error, and the backup restores', async () => {
    const dir = await tempDir('gzip-missing');
    const env = { ...process.env, PATH: await tempDir('empty-path'), DBBACKUP_GZIP: undefined };
    const db = await chinookCopy(dir);
    const original = sqliteContents(db);
    const manifest = await backup(db, join(dir, 'b'), [], env);
    assert.match(manifest.compression_implementation ?? '', /^node-zlib-parallel /);
    const restored = await cli(
      ['restore', '--path', manifest.location, '--to', `sqlite://${db}`, '--confirm', 'app.db', '--no-safety-backup'],
      { env },
    );
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(sqliteContents(db), original);
  });

  test('igzip asked for by name but missing: one line, exit 2, nothing stored', async () => {
    const dir = await tempDir('gzip-named');
    const env = { ...process.env, DBBACKUP_GZIP: 'igzip', DBBACKUP_IGZIP: join(dir, 'no-such-igzip') };
    const result = await cli(['backup', '--source', chinook, '--target', join(dir, 'b')], { env });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr.trim(), /^dbbackup backup: .*no-such-igzip was not found\. install ISA-L/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.deepEqual(await fs.readdir(join(dir, 'b')).catch(() => []), []);
  });

  test('reading with an unknown DBBACKUP_GZIP: verify and restore end in one line naming it, exit 2', async () => {
    const dir = await tempDir('gzip-unknown');
    const manifest = await backup(chinook, join(dir, 'b'), [], IGZIP_ENV);
    const env = { ...process.env, DBBACKUP_GZIP: 'pigz' };
    const verified = await cli(['verify', '--target', join(dir, 'b'), '--latest'], { env });
    const restored = await cli(
      ['restore', '--path', manifest.location, '--to', `sqlite://${join(dir, 'new.db')}`, '--confirm', 'new.db'],
      { env },
    );
    for (const result of [verified, restored]) {
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, /DBBACKUP_GZIP must be auto, igzip or zlib \(got "pigz"\)/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    }
  });

  test('igzip killed while compressing: the backup fails in one line naming the signal, and nothing but its run record is stored', async () => {
    const dir = await tempDir('gzip-killed');
    // Stand-in: a real igzip for --version, then one that is killed after its first bytes (no real igzip dies on cue).
    const wrapper = join(dir, 'igzip');
    await fs.writeFile(
      wrapper,
      '#!/bin/sh\nif [ "$1" = "--version" ]; then exec igzip --version; fi\nhead -c 4096 > /dev/null\nkill -KILL $$\n',
      { mode: 0o755 },
    );
    const env = { ...process.env, DBBACKUP_IGZIP: wrapper };
    // A copy of its own: other tests back up the sample at the same time, and a run holds its lock file.
    const source = join(dir, 'chinook.sqlite');
    await fs.copyFile(chinook, source);
    const result = await cli(['backup', '--source', source, '--target', join(dir, 'b')], { env });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /igzip failed while compressing: killed by SIGKILL/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    // No backup; the run's own record of its failure only.
    await assertOnlyFailedRunRecord({ dir: join(dir, 'b') }, { error: /igzip failed while compressing: killed by SIGKILL/ });
  });
  // Stand-ins for a compressor that is not what it claims: each answers --version as the real one
  // does, exits 0, and writes something other than the compressed dump.
  for (const [name, body, args, says] of [
    [
      'igzip that writes garbage',
      'cat > /dev/null; echo garbage',
      [],
      /igzip .* exited 0 but did not write the gzip of the dump/,
    ],
    ['igzip that writes nothing', 'cat > /dev/null', [], /igzip .* exited 0 but did not write the gzip of the dump/],
    [
      'igzip that compresses only the first half',
      'head -c 100000 | /usr/bin/igzip -c; cat > /dev/null',
      [],
      /igzip .* exited 0 but did not write the gzip of the dump/,
    ],
    [
      'zstd that writes garbage',
      'cat > /dev/null; echo garbage',
      ['--compression', 'zstd'],
      /zstd exited 0 but did not write zstd/,
    ],
  ] as const) {
    test(`${name}: the backup fails in one line, and nothing but its run record is stored`, async () => {
      const dir = await tempDir('gzip-liar');
      const program = name.split(' ')[0] as string;
      const bin = join(dir, 'bin');
      await fs.mkdir(bin);
      await fs.writeFile(
        join(bin, program),
        `#!/bin/sh\nif [ "$1" = "--version" ]; then exec /usr/bin/${program} --version; fi\n${body}\n`,
        { mode: 0o755 },
      );
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, DBBACKUP_GZIP: 'auto' };
      const source = join(dir, 'chinook.sqlite');
      await fs.copyFile(chinook, source);
      const result = await cli(['backup', '--source', source, '--target', join(dir, 'b'), ...args], { env });
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, says);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      await assertOnlyFailedRunRecord({ dir: join(dir, 'b') }, { error: says });
    });
  }
  test('an igzip that failed its version probe once is asked again: a long-lived process does not keep the failure', async () => {
    const dir = await tempDir('gzip-flaky');
    // A stand-in for an igzip that could not answer once (a probe timed out under load, the
    // package being upgraded): it fails --version while a marker file exists.
    const marker = join(dir, 'failing');
    const wrapper = join(dir, 'igzip');
    await fs.writeFile(wrapper, `#!/bin/sh\nif [ -e '${marker}' ]; then exit 1; fi\nexec /usr/bin/igzip "$@"\n`, { mode: 0o755 });
    await fs.writeFile(marker, '');
    const settings = readSettings({ ...process.env, DBBACKUP_IGZIP: wrapper });
    await assert.rejects(chooseGzip(settings), /does not run/);
    await fs.rm(marker);
    assert.equal((await chooseGzip(settings)).kind, 'igzip');
  });
  test('DBBACKUP_IGZIP naming another gzip (plain gzip): refused in one line, not recorded as ISA-L', async () => {
    const dir = await tempDir('gzip-other');
    const env = { ...process.env, DBBACKUP_IGZIP: '/usr/bin/gzip' };
    const result = await cli(['backup', '--source', chinook, '--target', join(dir, 'b')], { env });
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /\/usr\/bin\/gzip does not run as ISA-L's igzip: .*named another program/);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.deepEqual(await fs.readdir(join(dir, 'b')).catch(() => []), []);
  });
});
