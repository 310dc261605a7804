import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { SqliteEngine } from '../../shared/engines/sqlite/sqlite-engine.js';
import { SqliteDestination } from '../../shared/engines/sqlite/sqlite-destination.js';
import { tempDir } from '../harness/test-env.js';

const writerScript = fileURLToPath(new URL('../harness/sqlite-writer.js', import.meta.url));

/** A writer holding an exclusive lock on `path` for `ms`, once it holds it. */
async function lockFor(path: string, ms: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [writerScript, path, 'lock', String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`writer exited ${code} before locking`)));
  });
  return child;
}

async function lockedDatabase(prefix: string): Promise<{ path: string; writer: ChildProcess }> {
  const path = join(await tempDir(prefix), 'app.db');
  const db = new Database(path);
  db.exec("create table writes (id integer primary key, note text); insert into writes (note) values ('a')");
  db.close();
  return { path, writer: await lockFor(path, 20_000) };
}

/** How long `work` takes to settle, in ms, and how it settled. */
async function settles(work: Promise<unknown>): Promise<{ ms: number; rejected: boolean }> {
  const started = Date.now();
  const rejected = await work.then(
    () => false,
    () => true,
  );
  return { ms: Date.now() - started, rejected };
}

describe('a stopped run stops waiting for a SQLite lock', () => {
  test("closing the engine ends its probe's lock wait at once, not after the wait's 10 s", async () => {
    const { path, writer } = await lockedDatabase('probe-close');
    try {
      const engine = new SqliteEngine(path, { tmpDir: join(path, '..') });
      const probing = settles(engine.probe());
      await new Promise((resolve) => setTimeout(resolve, 300));
      const closedAt = Date.now();
      await engine.close();
      const { rejected } = await probing;
      assert.equal(rejected, true);
      assert.ok(Date.now() - closedAt < 1000, `the probe went on waiting ${Date.now() - closedAt} ms after close`);
    } finally {
      writer.kill();
    }
  });

  test("aborting the restore's signal ends the destination's inspection wait at once", async () => {
    const { path, writer } = await lockedDatabase('inspect-abort');
    try {
      const stop = new AbortController();
      const inspecting = settles(new SqliteDestination(path).inspect(stop.signal));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const abortedAt = Date.now();
      stop.abort(new Error('stopped'));
      const { rejected } = await inspecting;
      assert.equal(rejected, true);
      assert.ok(Date.now() - abortedAt < 1000, `the inspection went on waiting ${Date.now() - abortedAt} ms after the stop`);
    } finally {
      writer.kill();
    }
  });
});
