import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { runRestore } from '../../shared/restore/run-restore.js';
import { verifyBackup } from '../../shared/verify/verify-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { locateBackup } from '../../shared/catalog/locate-backup.js';
import { fetchBackup } from '../../shared/catalog/fetch-backup.js';
import { openDestination } from '../../shared/engines/registry.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { CancelledError } from '../../shared/errors.js';
import type { ReadProgress } from '../../shared/pipeline/read-progress.js';
import { readSettings } from '../../shared/settings.js';
import { describeRead } from '../../cli/progress-line.js';
import { fingerprint } from '../harness/compare-databases.js';
import {
  cli,
  cliOnSmallDisk,
  createBucket,
  descendantsOf,
  loadChinook,
  pgUrl,
  repoRoot,
  sampleCopy,
  sql,
  startFailingProxy,
  tempDir,
} from '../harness/test-env.js';

/** Databases on the server whose names start with `prefix`: a restore's fresh database left behind shows here. */
async function databasesLike(prefix: string): Promise<string[]> {
  const rows = await sql<{ datname: string }>(
    'postgres',
    'select datname from pg_database where left(datname, $2) = $1 order by 1',
    [prefix, prefix.length],
  );
  return rows.map((r) => r.datname);
}

/** The names of the programs running as descendants of `pid` (pg_restore, psql, zstd). */
function namesUnder(pid: number): string[] {
  return descendantsOf(pid).map((p) => p.name);
}

const sqliteSample = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

describe('restore in one streaming pass', () => {
  const created: string[] = [];
  let db: string;
  let backups: string;
  let backupKey: string;

  before(async () => {
    db = await loadChinook();
    created.push(db);
    backups = await tempDir('stream-backups');
    const manifest = await runBackup({ source: pgUrl(db), target: backups });
    backupKey = manifest.key;
    // Changed after the backup: a restore that happened would show.
    await sql(db, `insert into artist (artist_id, name) values (100001, 'after the backup')`);
  });
  after(async () => {
    for (const name of created) await sql('postgres', `drop database if exists "${name}" with (force)`).catch(() => {});
  });

  test('the dump is never copied to the temp dir: a temp dir far smaller than the dump still restores, and is left empty', async () => {
    const disk = await tempDir('stream-tiny-tmp');
    const copy = await loadChinook();
    created.push(copy);
    const result = await cliOnSmallDisk(
      disk,
      { sizeBytes: 64 << 10 },
      ['restore', '--path', join(backups, backupKey), '--to', pgUrl(copy), '--confirm', copy, '--no-safety-backup'],
      { env: { ...process.env, DBBACKUP_TMPDIR: disk }, limitMs: 120_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /restored .*: 11 tables/);
    assert.deepEqual(result.left, []);
  });

  const faults: Array<{ name: string; damage: (file: string, manifestFile: string) => Promise<void>; says: RegExp }> = [
    {
      name: 'a byte near the start',
      damage: (file) => flip(file, (size) => Math.min(40, size - 1)),
      says: /is corrupt: /,
    },
    { name: 'a byte in the middle', damage: (file) => flip(file, (size) => Math.floor(size / 2)), says: /is corrupt: / },
    { name: 'the very last byte (the gzip trailer)', damage: (file) => flip(file, (size) => size - 1), says: /is corrupt: / },
    {
      name: 'a truncated object',
      damage: async (file) => {
        const { size } = await fs.stat(file);
        await fs.truncate(file, size - 1000);
      },
      says: /is corrupt: it holds \d+ bytes, the manifest says \d+/,
    },
    {
      name: 'a manifest whose hash is wrong while the archive is valid (pg_restore succeeds)',
      damage: async (_file, manifestFile) => {
        const manifest = JSON.parse(await fs.readFile(manifestFile, 'utf8')) as { hash: string };
        manifest.hash = manifest.hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
        await fs.writeFile(manifestFile, JSON.stringify(manifest, null, 2));
      },
      says: /is corrupt: its SHA-256 is [0-9a-f]{64}, the manifest says [0-9a-f]{64}/,
    },
  ];

  for (const fault of faults) {
    test(`${fault.name}: exit 3 saying the backup is corrupt, the destination unchanged, no new database and nothing in the temp dir left`, async () => {
      const before = await fingerprint(db);
      const target = await tempDir('stream-fault');
      await fs.cp(backups, target, { recursive: true });
      const file = join(target, backupKey);
      await fault.damage(file, `${file}.json`);
      const tmp = await tempDir('stream-fault-tmp');
      const result = await cli(['restore', '--path', file, '--to', pgUrl(db), '--confirm', db, '--no-safety-backup'], {
        env: { ...process.env, DBBACKUP_TMPDIR: tmp },
      });
      assert.equal(result.code, 3, result.stderr);
      assert.match(result.stderr, fault.says);
      assert.match(result.stderr, /the destination was not touched/);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.deepEqual(await fingerprint(db), before);
      assert.deepEqual(await databasesLike(`${db}__dbbackup_`), []);
      assert.deepEqual(await fs.readdir(tmp), []);
    });
  }

  test('a download that stalls during pg_restore (stand-in: a proxy that stops answering) ends at the deadline: pg_restore stopped, no new database, the destination unchanged', async () => {
    const bucket = await createBucket('stream-stall');
    await runBackup({ source: pgUrl(db), target: `s3://${bucket}` });
    await sql(db, `insert into artist (artist_id, name) values (100002, 'after the S3 backup')`);
    const before = await fingerprint(db);
    const proxy = await startFailingProxy(process.env.AWS_ENDPOINT_URL_S3 as string);
    try {
      const settings = readSettings({ ...process.env, AWS_ENDPOINT_URL_S3: proxy.endpoint });
      await assert.rejects(
        runRestore(
          { target: `s3://${bucket}`, latest: true, to: pgUrl(db), confirm: db, noSafetyBackup: true },
          {
            settings,
            onPhase: (phase) => {
              if (phase === 'running pg_restore') proxy.stall();
            },
            deadline: { at: Date.now() + 8_000, setBy: 'the test' },
          },
        ),
        (error: Error) => error instanceof CancelledError,
      );
      assert.deepEqual(
        namesUnder(process.pid).filter((n) => /pg_restore|psql/.test(n)),
        [],
      );
      assert.deepEqual(await databasesLike(`${db}__dbbackup_`), []);
      assert.deepEqual(await fingerprint(db), before);
    } finally {
      await proxy.stop();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} during pg_restore: it exits, pg_restore with it, no new database is left and the temp dir is empty`, async () => {
      const before = await fingerprint(db);
      const tmp = await tempDir('stream-signal-tmp');
      const child = spawn(
        process.execPath,
        [join(repoRoot, 'bin/dbbackup.js'), 'restore', '--path', join(backups, backupKey), '--to', pgUrl(db), '--confirm', db],
        {
          env: { ...process.env, DBBACKUP_TMPDIR: tmp, DBBACKUP_TEST_PAUSE_AT: 'download' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // Paused on the first bytes of the one read, pg_restore already reading its stdin.
      await new Promise<void>((resolve, reject) => {
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          if (stderr.includes('paused at download')) resolve();
        });
        child.on('exit', () => reject(new Error(`the CLI exited before the download: ${stderr}`)));
      });
      const running = namesUnder(child.pid as number);
      assert.ok(running.includes('pg_restore'), running.join(' '));
      child.kill(signal);
      assert.equal(await closed, signal === 'SIGTERM' ? 143 : 130);
      assert.deepEqual(namesUnder(child.pid as number), []);
      assert.deepEqual(await databasesLike(`${db}__dbbackup_`), []);
      assert.deepEqual(await fs.readdir(tmp), []);
      assert.deepEqual(await fingerprint(db), before);
    });
  }

  test('progress: the one read reports stored bytes up to the manifest size, the archive bytes and the time, for restore and for verify', async () => {
    const copy = await loadChinook();
    created.push(copy);
    const reports: ReadProgress[] = [];
    await runRestore(
      { path: join(backups, backupKey), to: pgUrl(copy), confirm: copy, noSafetyBackup: true },
      { onProgress: (p) => reports.push(p) },
    );
    const target = await openTarget(backups);
    const { backups: listed } = await listBackups(target);
    const backup = listed.find((b) => b.key === backupKey);
    assert.ok(backup);
    const size = backup.manifest.size_bytes;
    const last = reports.at(-1);
    assert.ok(last, 'no progress reported');
    assert.equal(last.phase, 'restoring');
    assert.equal(last.storedBytes, size);
    assert.equal(last.totalStoredBytes, size);
    assert.ok(last.archiveBytes > size, `${last.archiveBytes} archive bytes from ${size} stored (gzip)`);
    for (let i = 1; i < reports.length; i++) {
      assert.ok((reports[i] as ReadProgress).storedBytes >= (reports[i - 1] as ReadProgress).storedBytes);
    }

    const verified: ReadProgress[] = [];
    const result = await verifyBackup(target, backup, undefined, undefined, (p) => verified.push(p));
    assert.ok(result.ok);
    assert.deepEqual(
      { ...verified.at(-1), elapsedMs: 0 },
      { phase: 'verifying', storedBytes: size, totalStoredBytes: size, archiveBytes: last.archiveBytes, elapsedMs: 0 },
    );
  });

  test('the missing-roles check before the prompt reads only the archive head, not the backup', async () => {
    const big = await loadChinook();
    created.push(big);
    const role = `gone_${big}`;
    await sql(big, `create role ${role}`);
    await sql(
      big,
      `create table filler as select g, md5(g::text) || md5((g * 7)::text) as t from generate_series(1, 200000) g;
       grant select on filler to ${role}`,
    );
    const dir = await tempDir('stream-head');
    const manifest = await runBackup({ source: pgUrl(big), target: dir });
    await sql(big, `revoke select on filler from ${role}; drop role ${role}`);
    const settings = readSettings(process.env);
    const located = await locateBackup({ path: manifest.location }, { settings });
    let read = 0;
    // Counts what is downloaded: the real target's streams, observed.
    const counted = Object.assign(Object.create(located.target) as typeof located.target, {
      get: async (key: string) => {
        const body = await located.target.get(key);
        body.on('data', (chunk: Buffer) => (read += chunk.length));
        return body;
      },
    });
    const fetched = await fetchBackup({ ...located, target: counted }, settings);
    try {
      const destination = await openDestination(pgUrl(big), settings);
      await assert.rejects(
        destination.preflight?.(fetched, located.manifest, { settings }) ?? Promise.resolve(),
        (error: Error) => error.message.includes(`"${role}"`),
      );
    } finally {
      await fetched.cleanup();
    }
    assert.ok(manifest.size_bytes > 4 << 20, `a backup of ${manifest.size_bytes} bytes`);
    assert.ok(read < manifest.size_bytes / 4, `read ${read} of ${manifest.size_bytes} stored bytes`);
    console.log(`the missing-roles check read ${read} of ${manifest.size_bytes} stored bytes (two partial reads)`);
  });

  test('preflight and restore read the archive’s table of contents once between them (each read is a download started, on S3 a request)', async () => {
    const source = await loadChinook();
    created.push(source);
    const role = `reader_${source}`;
    const settings = readSettings(process.env);
    /** Restores the newest backup of `source` into a new database, counting the reads of the stored backup. */
    const readsOfRestore = async (target: string): Promise<number> => {
      const manifest = await runBackup({ source: pgUrl(source), target });
      const located = await locateBackup({ path: manifest.location }, { settings });
      let reads = 0;
      const counted = Object.assign(Object.create(located.target) as typeof located.target, {
        get: async (key: string) => {
          if (!key.endsWith('.json')) reads++;
          return located.target.get(key);
        },
      });
      const fetched = await fetchBackup({ ...located, target: counted }, settings);
      const into = `${source}_copy${created.length}`;
      created.push(into);
      try {
        reads = 0;
        const destination = await openDestination(pgUrl(into), settings);
        await destination.preflight?.(fetched, located.manifest, { settings });
        await destination.restore(fetched, located.manifest, { settings });
      } finally {
        await fetched.cleanup();
      }
      assert.deepEqual(await fingerprint(into), await fingerprint(source));
      return reads;
    };
    // No grant, no database ACL: the list (roles, database ACL), then the whole archive into pg_restore.
    assert.equal(await readsOfRestore(await tempDir('head-once-plain')), 2);
    await sql(source, `create role ${role}`);
    try {
      await sql(source, `grant select on album to ${role}; revoke connect on database ${source} from public`);
      // Besides: the SQL of the entries naming roles, and that of the database's ACL (a new database gets it).
      assert.equal(await readsOfRestore(await tempDir('head-once-acl')), 4);
    } finally {
      for (const name of created.slice(-1)) await sql('postgres', `drop database if exists "${name}" with (force)`);
      await sql(source, `revoke select on album from ${role}`);
      await sql('postgres', `drop role ${role}`);
    }
  });

  test('the progress line shows the share read, the rate and the time left', () => {
    const line = describeRead(
      { phase: 'restoring', storedBytes: 25 << 20, totalStoredBytes: 100 << 20, archiveBytes: 80 << 20, elapsedMs: 5_000 },
      120,
    );
    assert.match(line, /^\[#+\.+\]\s+25%/);
    assert.match(line, /of 105 MB read/);
    assert.match(line, /5\.24 MB\/s/);
    assert.match(line, /about 15.0 s left/);
  });
});

describe('SQLite restore in one streaming pass', () => {
  test('the backup streams into a file beside the destination, never the temp dir; a corrupt last byte leaves the destination and its directory as they were', async () => {
    const dir = await tempDir('stream-sqlite');
    const path = join(dir, 'app.db');
    await fs.copyFile(sqliteSample, path);
    const backups = join(dir, 'backups');
    const manifest = await runBackup({ source: path, target: backups });
    const before = await fs.readFile(path);

    const disk = await tempDir('stream-sqlite-tiny-tmp');
    const restored = join(dir, 'copy.db');
    const result = await cliOnSmallDisk(
      disk,
      { sizeBytes: 64 << 10 },
      ['restore', '--path', join(backups, manifest.key), '--to', restored, '--confirm', 'copy.db'],
      { env: { ...process.env, DBBACKUP_TMPDIR: disk }, limitMs: 60_000 },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.left, []);
    assert.match(result.stdout, /restored copy\.db: 11 tables/);

    const file = join(backups, manifest.key);
    await flip(file, (size) => size - 1);
    const listing = await fs.readdir(dir);
    const corrupt = await cli(['restore', '--path', file, '--to', path, '--confirm', 'app.db', '--no-safety-backup']);
    assert.equal(corrupt.code, 3, corrupt.stderr);
    assert.match(corrupt.stderr, /is corrupt: .*the destination was not touched/);
    assert.deepEqual(await fs.readFile(path), before);
    assert.deepEqual(await fs.readdir(dirname(path)), listing, `left beside ${basename(path)}`);
  });
});

/** Flips one bit of the byte at `at(size)`. */
async function flip(file: string, at: (size: number) => number): Promise<void> {
  const bytes = await fs.readFile(file);
  const i = at(bytes.length);
  bytes[i] = (bytes[i] as number) ^ 0x01;
  await fs.writeFile(file, bytes);
}
