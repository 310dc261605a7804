import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type BackupProgress, runBackup } from '../../shared/backup/run-backup.js';
import type { Manifest } from '../../shared/manifest.js';
import { readSettings } from '../../shared/settings.js';
import {
  advisoryLocksOn,
  assertOnlyFailedRunRecord,
  cli,
  cliWithin,
  loadChinook,
  pgDumpWrapperDir,
  pgUrl,
  run,
  sampleCopy,
  sessionsOn,
  tempDir,
  waitFor,
} from '../harness/test-env.js';

/**
 * A PostgreSQL backup compressed by a program (igzip, zstd) is fed by pg_dump directly, GNU dd
 * between them measuring the dump; without GNU dd on the search path the dump passes through
 * dbbackup as before. Both ways must store the same thing and fail the same way.
 */
const db = await loadChinook();

/** A search path of the programs a backup may run, with or without dd; `first` is searched before them. */
async function searchPath(withDd: boolean, first?: string): Promise<string> {
  const dir = await tempDir('path');
  const programs = ['igzip', 'zstd', 'cat', 'head', 'sleep', ...(withDd ? ['dd'] : [])];
  for (const program of programs) await fs.symlink(join('/usr/bin', program), join(dir, program));
  return [first, dir].filter(Boolean).join(':');
}

const WAYS = [
  { way: 'fed by pg_dump, dd measuring', withDd: true },
  { way: 'through dbbackup (no GNU dd)', withDd: false },
];

/** A stand-in for a compressor that is not what it claims: answers --version as the real one, then runs `body`. */
async function liar(program: string, body: string): Promise<string> {
  const bin = await tempDir('liar');
  await fs.writeFile(
    join(bin, program),
    `#!/bin/sh\nif [ "$1" = "--version" ]; then exec /usr/bin/${program} --version; fi\n${body}\n`,
    { mode: 0o755 },
  );
  return bin;
}

describe('a compressor fed by pg_dump directly', () => {
  for (const { way, withDd } of WAYS) {
    for (const [engine, compression] of [
      ['postgres', 'gzip'],
      ['postgres', 'zstd'],
      ['sqlite', 'gzip'],
      ['sqlite', 'zstd'],
    ] as const) {
      test(`${way}, ${engine}, ${compression}: the manifest's source size is the dump's, and the backup verifies`, async () => {
        const dir = await tempDir('fed');
        const env = { ...process.env, PATH: await searchPath(withDd), DBBACKUP_GZIP: 'auto' };
        const source = engine === 'postgres' ? pgUrl(db) : await sampleCopy('chinook/Chinook_Sqlite.sqlite');
        const result = await cli(['backup', '--source', source, '--target', dir, '--compression', compression, '--json'], {
          env,
        });
        assert.equal(result.code, 0, result.stderr);
        const manifest = JSON.parse(result.stdout) as Manifest;
        assert.match(manifest.compression_implementation ?? '', compression === 'gzip' ? /^isal-igzip / : /^zstd /);
        const decompress = compression === 'gzip' ? 'gzip -dc' : 'zstd -dcq';
        const size = await run('sh', ['-c', `${decompress} '${join(dir, manifest.key)}' | wc -c`]);
        assert.equal(Number(size.stdout.trim()), manifest.source_size_bytes);
        if (engine === 'sqlite') assert.equal(manifest.source_size_bytes, (await fs.stat(source)).size);
        assert.equal(manifest.tables[engine === 'postgres' ? 'public.track' : 'Track'], 3503);
        const verified = await cli(['verify', '--target', dir, '--latest'], { env });
        assert.equal(verified.code, 0, verified.stdout + verified.stderr);
        assert.deepEqual(await sessionsOn(db), []);
      });
    }

    // Each fails the backup in one line naming what went wrong, stores nothing but the run record, and holds no session.
    const cases: Array<{
      name: string;
      compression: string;
      setUp: () => Promise<{ path?: string; pgBin?: string }>;
      says: RegExp;
    }> = [
      {
        name: 'igzip killed while compressing',
        compression: 'gzip',
        setUp: async () => ({ path: await liar('igzip', 'head -c 4096 > /dev/null\nkill -KILL $$') }),
        says: /igzip failed while compressing: killed by SIGKILL/,
      },
      {
        name: 'igzip that writes garbage',
        compression: 'gzip',
        setUp: async () => ({ path: await liar('igzip', 'cat > /dev/null; echo garbage') }),
        says: /igzip .* exited 0 but did not write the gzip of the dump/,
      },
      {
        name: 'igzip that compresses only the first part and reads the rest',
        compression: 'gzip',
        setUp: async () => ({ path: await liar('igzip', 'head -c 100000 | /usr/bin/igzip -c; cat > /dev/null') }),
        says: /igzip .* exited 0 but did not write the gzip of the dump: .*trailer does not match the dump/,
      },
      {
        name: 'igzip that exits 0 at once, reading nothing',
        compression: 'gzip',
        setUp: async () => ({ path: await liar('igzip', 'exit 0') }),
        says: /compressor stopped reading before the end of the dump|igzip .* exited 0 but did not write the gzip of the dump/,
      },
      {
        name: 'zstd that writes garbage',
        compression: 'zstd',
        setUp: async () => ({ path: await liar('zstd', 'cat > /dev/null; echo garbage') }),
        says: /zstd exited 0 but did not write zstd/,
      },
      {
        name: 'pg_dump that fails after its first bytes',
        compression: 'gzip',
        setUp: async () => ({ pgBin: await pgDumpWrapperDir('"$REAL" "$@" | head -c 5000\nexit 1') }),
        says: /pg_dump of .* exited with code 1/,
      },
    ];
    for (const { name, compression, setUp, says } of cases) {
      test(`${way}: ${name}: one line, nothing stored but the run record, no session held`, async () => {
        const dir = await tempDir('fed-fails');
        const { path, pgBin } = await setUp();
        const env = {
          ...process.env,
          PATH: await searchPath(withDd, path),
          DBBACKUP_GZIP: 'auto',
          ...(pgBin ? { DBBACKUP_PG_BIN_DIR: pgBin } : {}),
        };
        const result = await cli(['backup', '--source', pgUrl(db), '--target', dir, '--compression', compression], { env });
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, says);
        assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
        await assertOnlyFailedRunRecord({ dir }, { error: says });
        assert.deepEqual(await sessionsOn(db), []);
      });
    }
  }
});

/** Whether process `pid` is still running (a zombie is not: it has ended and awaits its parent). */
async function running(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z /.test(stat);
}

describe('a fed backup: its progress, a stop, a cut stream, a killed dd', () => {
  test('progress never goes backwards and never passes the dump: not while the compressor finishes after dd has exited', async () => {
    const dir = await tempDir('fed-progress');
    // A compressor still busy after its input ended (zstd at a high level on its last job).
    const slow = await liar('zstd', '/usr/bin/zstd "$@"; sleep 1');
    const path = await searchPath(true, slow);
    for (const source of [pgUrl(db), await sampleCopy('chinook/Chinook_Sqlite.sqlite')]) {
      const seen: BackupProgress[] = [];
      // The compressor is run by name, found on this process's PATH.
      const saved = process.env.PATH;
      process.env.PATH = path;
      const manifest = await runBackup(
        { source, target: dir, compression: 'zstd' },
        { settings: readSettings({ ...process.env, PATH: path }), onProgress: (p) => seen.push(p) },
      ).finally(() => {
        process.env.PATH = saved;
      });
      const bytes = seen.filter((p) => p.phase === 'streaming' || p.phase === 'committing').map((p) => p.sourceBytes);
      assert.ok(bytes.length > 3, `too few progress reports: ${bytes.join(' ')}`);
      for (let i = 1; i < bytes.length; i++) {
        assert.ok((bytes[i] as number) >= (bytes[i - 1] as number), `progress went backwards: ${bytes.join(' ')}`);
      }
      assert.ok(
        Math.max(...bytes) <= manifest.source_size_bytes,
        `progress passed the dump's ${manifest.source_size_bytes}: ${bytes.join(' ')}`,
      );
      assert.equal(bytes.at(-1), manifest.source_size_bytes);
      const streaming = seen.filter((p) => p.phase === 'streaming');
      const series = streaming.map((p) => `${p.sourceBytes} read → ${p.storedBytes} stored`).join(', ');
      assert.ok(
        streaming.every((p) => p.storedBytes === 0 || p.sourceBytes > 0),
        `bytes stored but none read: ${series}`,
      );
      // The compressor's last second, dd long gone: all of the dump has been read.
      assert.equal(streaming.at(-1)?.sourceBytes, manifest.source_size_bytes, series);
    }
  });

  for (const [signal, withDd] of [
    ['SIGTERM', true],
    ['SIGINT', true],
    ['SIGTERM', false],
  ] as const) {
    test(`${withDd ? 'fed' : 'through dbbackup'}: ${signal} while a compressor that ignores SIGTERM holds the dump: exit ${signal === 'SIGTERM' ? 143 : 130} within seconds, no process left`, async () => {
      const dir = await tempDir('fed-stuck');
      const pids = join(dir, 'pids');
      const stuck = await liar('zstd', `trap '' TERM INT\necho $$ >> '${pids}'\nexec sleep 60`);
      const env = { ...process.env, PATH: await searchPath(withDd, stuck) };
      const out = join(dir, 'out');
      const started = Date.now();
      const result = await cliWithin(['backup', '--source', pgUrl(db), '--target', out, '--compression', 'zstd'], {
        env,
        limitMs: 30_000,
        onStart: (child) => {
          void waitFor('the compressor to start', () =>
            fs.stat(pids).then(
              () => true,
              () => false,
            ),
          ).then(() => setTimeout(() => child.kill(signal), 500));
        },
      });
      assert.equal(result.code, signal === 'SIGTERM' ? 143 : 130, result.stderr);
      assert.ok(Date.now() - started < 15_000);
      const pid = Number((await fs.readFile(pids, 'utf8')).trim());
      assert.equal(await running(pid), false, `the compressor ${pid} is still running after the backup ended`);
      assert.deepEqual(await sessionsOn(db), []);
      assert.equal(await advisoryLocksOn(db), 0);
    });
  }

  test('a zstd whose stream is cut short (exit 0) fails the backup: what is stored must be what verify accepts', async () => {
    const cut = await liar('zstd', '/usr/bin/zstd "$@" > "$0.out"; head -c 2000 "$0.out"');
    for (const withDd of [true, false]) {
      const dir = await tempDir('fed-cut');
      const env = { ...process.env, PATH: await searchPath(withDd, cut) };
      const result = await cli(['backup', '--source', pgUrl(db), '--target', dir, '--compression', 'zstd'], { env });
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /zstd exited 0 but did not write zstd: its 2000-byte output ends partway through a zstd frame/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      await assertOnlyFailedRunRecord({ dir }, { error: /ends partway through a zstd frame/ });
    }
  });

  test('dd killed while the dump passes: one line naming dd, nothing stored', async () => {
    const dir = await tempDir('fed-dd');
    const bin = await tempDir('fed-dd-bin');
    await fs.writeFile(
      join(bin, 'dd'),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec /usr/bin/dd --version; fi\nhead -c 3000 | /usr/bin/dd "$@"\nkill -KILL $$\n`,
      { mode: 0o755 },
    );
    const env = { ...process.env, PATH: await searchPath(true, bin) };
    const result = await cli(['backup', '--source', pgUrl(db), '--target', dir, '--compression', 'zstd'], { env });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /dd, which measures the dump .* failed \(exit SIGKILL\)/);
    await assertOnlyFailedRunRecord({ dir }, { error: /dd/ });
    assert.deepEqual(await sessionsOn(db), []);
  });
});
