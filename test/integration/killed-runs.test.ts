import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { thisProcess } from '../../shared/pipeline/holder.js';
import { cli, cliWithin, tempDir, treeOf, waitFor } from '../harness/test-env.js';

/** A SQLite database of about `mb` megabytes, so that a backup of it takes a moment. */
function makeDatabase(path: string, mb: number): void {
  const db = new Database(path);
  db.exec('create table payload (id integer primary key, data blob)');
  db.prepare(
    'with recursive c(x) as (select 1 union all select x + 1 from c where x < ?) insert into payload (data) select randomblob(1000) from c',
  ).run(mb * 1000);
  db.close();
}

const exists = (path: string) =>
  fs.stat(path).then(
    () => true,
    () => false,
  );

/**
 * Runs `dbbackup backup` and SIGKILLs it the moment `debris` (checked every 25 ms) is there: a
 * crash, by the operating system's hand, partway through.
 */
async function killBackupWhen(args: string[], env: NodeJS.ProcessEnv, debris: () => Promise<boolean>): Promise<void> {
  let child: ChildProcess | undefined;
  const running = cliWithin(['backup', ...args], {
    env,
    limitMs: 60_000,
    onStart: (c) => {
      child = c;
    },
  });
  await waitFor('the run to be partway', debris);
  child?.kill('SIGKILL');
  const result = await running;
  assert.equal(result.signal, 'SIGKILL', `the run ended on its own first: ${result.stderr}`);
}

describe('what a killed run leaves is recognised and removed by the next', () => {
  test('a SIGKILLed SQLite backup: the next backup runs at once, and removes its snapshot and its lock', async () => {
    const dir = await tempDir('killed-sqlite');
    const tmp = await tempDir('killed-sqlite-tmp');
    const path = join(dir, 'app.db');
    makeDatabase(path, 60);
    const env = { ...process.env, DBBACKUP_TMPDIR: tmp };
    const snapshotWritten = async () => {
      const [snapshotDir] = (await fs.readdir(tmp)).filter((f) => f.startsWith('dbbackup-sqlite-'));
      if (!snapshotDir) return false;
      const snapshot = await fs.stat(join(tmp, snapshotDir, 'snapshot.db')).catch(() => undefined);
      return (snapshot?.size ?? 0) > 0;
    };
    await killBackupWhen(['--source', path, '--target', join(dir, 'out')], env, snapshotWritten);
    assert.ok(await exists(`${path}.dbbackup-lock`), 'the killed run left its lock');
    assert.notDeepEqual(await fs.readdir(tmp), [], 'the killed run left its snapshot');

    const next = await cli(['backup', '--source', path, '--target', join(dir, 'out')], { env });
    assert.equal(next.code, 0, next.stderr);
    assert.ok(!(await exists(`${path}.dbbackup-lock`)), 'no lock is left');
    assert.deepEqual(await fs.readdir(tmp), [], "the killed run's snapshot is gone");
  });

  test("a SIGKILLed backup to a directory: the next backup of that database removes the killed run's .tmp file", async () => {
    const dir = await tempDir('killed-dir');
    const path = join(dir, 'app.db');
    makeDatabase(path, 60);
    const out = join(dir, 'out');
    const tmpFiles = async () => (await treeOf(out).catch(() => [])).filter((f) => f.endsWith('.tmp'));
    await killBackupWhen(['--source', path, '--target', out, '--compression', 'none'], process.env, async () => {
      const [tmp] = await tmpFiles();
      return tmp !== undefined && (await fs.stat(join(out, tmp))).size > 0;
    });
    assert.equal((await tmpFiles()).length, 1, 'the killed run left its .tmp file');

    const next = await cli(['backup', '--source', path, '--target', out], { env: process.env });
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(await tmpFiles(), [], 'no .tmp file is left');
  });

  test('a lock from a run on another machine holds while its holder keeps it fresh, and is taken over soon after it stops', async () => {
    const dir = await tempDir('lock-elsewhere');
    const path = join(dir, 'app.db');
    makeDatabase(path, 1);
    const lock = `${path}.dbbackup-lock`;
    const elsewhere = { pid: 4242, host: `not-${hostname()}`, since: new Date().toISOString() };
    await fs.writeFile(lock, JSON.stringify(elsewhere));
    const busy = await cli(['backup', '--source', path, '--target', join(dir, 'out')]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /another backup of .*app\.db is already running/);

    // Its holder stopped refreshing it three minutes ago: not six hours.
    const stale = new Date(Date.now() - 3 * 60 * 1000);
    await fs.utimes(lock, stale, stale);
    const manifest = await runBackup({ source: path, target: join(dir, 'out') });
    assert.equal(manifest.tables.payload, 1000);
    assert.ok(!(await exists(lock)));
  });

  test('a lock whose holder ran on this machine is judged by that process: taken over at once when it is gone, kept while it lives', async () => {
    const dir = await tempDir('lock-here');
    const path = join(dir, 'app.db');
    makeDatabase(path, 1);
    const lock = `${path}.dbbackup-lock`;
    const me = thisProcess();
    // Above Linux's largest pid (2^22): no process has it.
    await fs.writeFile(lock, JSON.stringify({ ...me, pid: 2 ** 22 + 17, since: new Date().toISOString() }));
    const manifest = await runBackup({ source: path, target: join(dir, 'out') });
    assert.equal(manifest.tables.payload, 1000);

    // This test process holds it: alive, however long ago the lock was last touched.
    await fs.writeFile(lock, JSON.stringify({ ...me, since: new Date().toISOString() }));
    const old = new Date(Date.now() - 3 * 3600 * 1000);
    await fs.utimes(lock, old, old);
    const busy = await cli(['backup', '--source', path, '--target', join(dir, 'out')]);
    assert.equal(busy.code, 1, busy.stderr);
    assert.match(busy.stderr, /another backup of .*app\.db is already running/);
    await fs.rm(lock);
  });
});
