import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { runBackup } from '../../shared/backup/run-backup.js';
import { freeReplacedName } from '../../shared/engines/postgres/replaced-database.js';
import {
  cli,
  createDatabase,
  killCliAt,
  pgUrl,
  repoRoot,
  type RunResult,
  samplesDir,
  sql,
  tempDir,
  uniqueName,
  waitFor,
} from '../harness/test-env.js';

const writerScript = fileURLToPath(new URL('../harness/sqlite-writer.js', import.meta.url));

/**
 * Runs the CLI stopped at `point` (DBBACKUP_TEST_PAUSE_AT), runs `atPause` while it waits there,
 * then lets it go on (DBBACKUP_TEST_RESUME_FILE): a write placed exactly between the safety backup
 * and the swap, not left to timing.
 */
async function cliPausedAt(point: string, args: string[], atPause: () => Promise<void>): Promise<RunResult> {
  const resume = join(await tempDir('resume'), 'resume');
  const child = spawn(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), ...args], {
    env: { ...process.env, DBBACKUP_TEST_PAUSE_AT: point, DBBACKUP_TEST_RESUME_FILE: resume },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const closed = new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  let exited = false;
  void closed.then(() => (exited = true));
  await waitFor(
    `the restore to pause at ${point}`,
    () => {
      if (exited) throw new Error(`the CLI exited before reaching ${point}: ${stderr}`);
      return stderr.includes(`paused at ${point}`);
    },
    120_000,
  );
  await atPause();
  await fs.writeFile(resume, '');
  const code = await closed;
  return { code, stdout, stderr };
}

/**
 * An application's connection: one insert into `writes` every 20 ms, each its own transaction,
 * recording the ids PostgreSQL acknowledged; ended by the server, it connects again at once.
 */
function startPgWriter(db: string): { acked: number[]; stop: () => Promise<void> } {
  const acked: number[] = [];
  let running = true;
  let n = 0;
  const done = (async () => {
    let client: pg.Client | undefined;
    while (running) {
      try {
        if (!client) {
          client = new pg.Client({ connectionString: pgUrl(db) });
          client.on('error', () => {});
          await client.connect();
        }
        const id = ++n;
        await client.query('insert into writes (id) values ($1)', [id]);
        acked.push(id);
        await sleep(20);
      } catch {
        await client?.end().catch(() => {});
        client = undefined;
        await sleep(1);
      }
    }
    await client?.end().catch(() => {});
  })();
  return {
    acked,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

async function ids(db: string): Promise<Set<number>> {
  return new Set((await sql<{ id: number }>(db, 'select id from writes')).map((r) => r.id));
}

describe('a restore loses no acknowledged write', () => {
  // Only what this file created is dropped afterwards: other test files run at the same time.
  const created: string[] = [];
  after(async () => {
    for (const db of created) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });

  async function writesDatabase(): Promise<{ db: string; target: string }> {
    const db = await createDatabase('writes');
    created.push(db);
    await sql(db, 'create table writes (id int primary key); insert into writes values (0)');
    const target = await tempDir('writes-backups');
    await runBackup({ source: pgUrl(db), target });
    return { db, target };
  }

  test('PostgreSQL: writes acknowledged between the safety backup and the swap are in the kept replaced database; sessions in a transaction at the swap are ended, their writes never acknowledged', async (t) => {
    const { db, target } = await writesDatabase();
    const writer = startPgWriter(db);
    t.after(() => writer.stop());
    await waitFor('the writer to commit', () => writer.acked.length >= 3);
    const idle = new pg.Client({ connectionString: pgUrl(db) });
    const busy = new pg.Client({ connectionString: pgUrl(db) });
    for (const c of [idle, busy]) c.on('error', () => {});
    t.after(() => Promise.all([idle.end().catch(() => {}), busy.end().catch(() => {})]));
    let duringPause: number[] = [];
    let busyQuery: Promise<unknown> | undefined;
    const args = ['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db, '--json'];
    const result = await cliPausedAt('swap', args, async () => {
      const from = writer.acked.length;
      await waitFor('writes after the safety backup', () => writer.acked.length >= from + 5);
      duringPause = writer.acked.slice(from);
      // One session idle in a transaction, one in a long statement in a transaction, at the moment of the swap.
      await idle.connect();
      await idle.query('begin; insert into writes values (-1)');
      await busy.connect();
      await busy.query('begin; insert into writes values (-2)');
      busyQuery = busy.query('select pg_sleep(600)').catch((error: Error) => error);
    });
    assert.equal(result.code, 0, result.stderr);
    const output = JSON.parse(result.stdout) as {
      safetyBackup?: string;
      replaced?: { name: string; undo: string; drop: string };
    };
    assert.ok(output.safetyBackup, 'a safety backup was taken');
    // The application goes on writing into the restored database.
    const at = writer.acked.length;
    await waitFor('the writer to commit into the restored database', () => writer.acked.length >= at + 3);
    await writer.stop();
    assert.ok(await busyQuery, 'the long transaction was ended');
    await idle.end().catch(() => {});
    await busy.end().catch(() => {});

    const replaced = output.replaced?.name;
    if (replaced) created.push(replaced);
    const inReplaced = replaced ? await ids(replaced) : new Set<number>();
    const inDestination = await ids(db);
    const lost = writer.acked.filter((id) => !inReplaced.has(id) && !inDestination.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${writer.acked.length} acknowledged writes are in no database`);
    assert.ok(
      duringPause.every((id) => inReplaced.has(id)),
      'the writes made between the safety backup and the swap are in the replaced database',
    );
    assert.match(replaced ?? '', new RegExp(`^${db}__replaced_\\d{14}$`));
    assert.ok(!inReplaced.has(-1) && !inReplaced.has(-2) && !inDestination.has(-1) && !inDestination.has(-2));
    // The destination is the backup, plus what the application wrote after the swap.
    assert.ok(inDestination.has(0));
    const lastBeforeSwap = Math.max(...inReplaced);
    assert.ok([...inDestination].every((id) => id === 0 || id > lastBeforeSwap));
    assert.match(output.replaced?.undo ?? '', new RegExp(`ALTER DATABASE "${replaced}" RENAME TO "${db}"`));
    assert.equal(output.replaced?.drop, `DROP DATABASE "${replaced}"`);
  });

  test('PostgreSQL: a later restore keeps the replaced databases of earlier ones; --drop-replaced drops its own and says which writes are in no copy', async () => {
    const { db, target } = await writesDatabase();
    const restore = (...more: string[]) =>
      cli(['restore', '--target', target, '--latest', '--database', db, '--to', pgUrl(db), '--confirm', db, ...more]);
    const kept = async () =>
      (
        await sql<{ datname: string }>('postgres', 'select datname from pg_database where datname like $1 order by 1', [
          `${db}\\_\\_replaced\\_%`,
        ])
      ).map((r) => r.datname);

    await sql(db, 'insert into writes values (1)');
    const first = await restore();
    assert.equal(first.code, 0, first.stderr);
    const [firstKept] = await kept();
    assert.ok(firstKept, 'the first restore kept the replaced database');
    created.push(firstKept);
    assert.ok(first.stdout.includes(`: ${firstKept}`), first.stdout);
    assert.ok(first.stdout.includes(`to undo: with no session on either: ALTER DATABASE "${db}" RENAME TO`), first.stdout);
    assert.ok(
      first.stdout.includes(`remove it (it takes as much disk as the database did): DROP DATABASE "${firstKept}"`),
      first.stdout,
    );
    assert.deepEqual(await ids(firstKept), new Set([0, 1]));

    await sql(db, 'insert into writes values (2)');
    const second = await restore();
    assert.equal(second.code, 0, second.stderr);
    const both = await kept();
    created.push(...both);
    assert.equal(both.length, 2, `both replaced databases are kept: ${both.join(', ')}`);
    assert.ok(both.includes(firstKept));

    await sql(db, 'insert into writes values (3)');
    const third = await restore('--drop-replaced');
    assert.equal(third.code, 0, third.stderr);
    assert.deepEqual(await kept(), both, 'the third restore kept nothing, and dropped none of the earlier ones');
    assert.match(
      third.stdout,
      /warning: the replaced database ".*" was dropped as asked: writes made to it after the safety backup \(taken \d{4}-\d\d-\d\dT[\d:.]+Z\) are in no copy/,
    );
    assert.deepEqual(await ids(db), new Set([0]));
  });

  test('PostgreSQL: a session connecting again between the end of the sessions and the rename fails the swap, the destination unchanged; killed there, the same; a later restore succeeds', async (t) => {
    const { db, target } = await writesDatabase();
    await sql(db, 'insert into writes values (1)');
    const args = ['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db];
    const others = async () =>
      (
        await sql<{ datname: string }>('postgres', 'select datname from pg_database where left(datname, $2) = $1', [
          `${db}__`,
          db.length + 2,
        ])
      ).map((r) => r.datname);
    const racer = new pg.Client({ connectionString: pgUrl(db) });
    racer.on('error', () => {});
    t.after(() => racer.end().catch(() => {}));
    const result = await cliPausedAt('rename', args, async () => {
      // The application reconnecting at once, after the swap ended its sessions, and writing.
      await racer.connect();
      await racer.query('insert into writes values (2)');
    });
    assert.equal(result.code, 1, result.stderr);
    const said = result.stderr.split('\n').filter((line) => line.startsWith('dbbackup restore:'));
    assert.equal(said.length, 1, result.stderr);
    assert.match(
      said[0] ?? '',
      /a session connected to ".*" again while the restore was swapping it out, so it was not replaced/,
    );
    assert.match(said[0] ?? '', /the destination was not changed/);
    assert.deepEqual(await ids(db), new Set([0, 1, 2]));
    assert.deepEqual(await others(), [], 'neither the new database nor a replaced one is left');
    await racer.end();

    await killCliAt('rename', args);
    assert.deepEqual(await ids(db), new Set([0, 1, 2]), 'killed inside the swap transaction');

    const again = await cli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await ids(db), new Set([0]));
    const left = await others();
    created.push(...left);
    assert.equal(left.length, 1, `only the replaced database is left: ${left.join(', ')}`);
    assert.deepEqual(await ids(left[0] ?? ''), new Set([0, 1, 2]));
  });

  test('PostgreSQL: the kept name fits 63 bytes for a long multibyte name, cut between characters, and a name already taken gets a suffix', async () => {
    const base = 'é'.repeat(17);
    const admin = new pg.Client({ connectionString: pgUrl('postgres') });
    await admin.connect();
    try {
      const at = new Date('2026-11-22T05:17:49Z');
      const first = await freeReplacedName(admin, base, at);
      assert.equal(first, `${base}__replaced_20261122051749`);
      created.push(first);
      await admin.query(`create database "${first}"`);
      const second = await freeReplacedName(admin, base, at);
      assert.equal(second, `${first}_2`);
      assert.ok(Buffer.byteLength(second) <= 63);
    } finally {
      await admin.end();
    }
    // Through a restore: the destination's own name at the limit.
    const db = `${'é'.repeat(25)}${uniqueName('x')}`;
    assert.ok(Buffer.byteLength(db) <= 63);
    await sql('postgres', `create database "${db}"`);
    created.push(db);
    await sql(db, 'create table writes (id int primary key); insert into writes values (0)');
    const target = await tempDir('long-name');
    await runBackup({ source: pgUrl(db), target });
    const result = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const replaced = (JSON.parse(result.stdout) as { replaced: { name: string } }).replaced.name;
    created.push(replaced);
    assert.ok(Buffer.byteLength(replaced) <= 63, replaced);
    assert.ok(replaced.startsWith('éé') && /__replaced_\d{14}$/.test(replaced), replaced);
    assert.deepEqual(await ids(replaced), new Set([0]));
  });

  /** Chinook plus the `writes` table the harness's writer appends to. */
  async function sqliteApp(journal: 'delete' | 'wal'): Promise<{ dir: string; path: string; backups: string }> {
    const dir = await tempDir(`sqlite-writes-${journal}`);
    const path = join(dir, 'app.db');
    await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
    const db = new Database(path);
    db.pragma(`journal_mode = ${journal}`);
    db.exec("create table writes (id integer primary key, note text); insert into writes (note) values ('before the backup')");
    db.close();
    const backups = join(dir, 'backups');
    await runBackup({ source: path, target: backups });
    return { dir, path, backups };
  }

  /** The `acked` writer of test/harness/sqlite-writer.ts, and the notes SQLite acknowledged to it. */
  async function startSqliteWriter(path: string): Promise<{ acked: string[]; stop: () => Promise<void> }> {
    const child: ChildProcess = spawn(process.execPath, [writerScript, path, 'acked'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: string[] = [];
    let buffered = '';
    child.stdout?.on('data', (c: Buffer) => {
      buffered += c.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('acked ')) acked.push(line);
    });
    await waitFor('the SQLite writer to commit', () => acked.length > 0);
    return {
      acked,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      },
    };
  }

  const notes = (path: string): Set<string> => {
    // Not read-only: the writer, killed mid-transaction, may leave a hot journal to roll back first.
    const db = new Database(path, { fileMustExist: true });
    try {
      return new Set(db.prepare('select note from writes').pluck().all() as string[]);
    } finally {
      db.close();
    }
  };

  for (const journal of ['delete', 'wal'] as const) {
    test(`SQLite (${journal} journal): writes acknowledged between the safety backup and the swap are in a copy kept beside the destination`, async (t) => {
      const { dir, path, backups } = await sqliteApp(journal);
      const writer = await startSqliteWriter(path);
      t.after(() => writer.stop());
      let duringPause: string[] = [];
      const args = ['restore', '--target', backups, '--latest', '--to', `sqlite://${path}`, '--confirm', 'app.db', '--json'];
      const result = await cliPausedAt('swap', args, async () => {
        const from = writer.acked.length;
        await waitFor('writes after the safety backup', () => writer.acked.length >= from + 5);
        duringPause = writer.acked.slice(from);
      });
      const at = writer.acked.length;
      await waitFor('the writer to commit into the restored database', () => writer.acked.length >= at + 3);
      await writer.stop();
      assert.equal(result.code, 0, result.stderr);
      const output = JSON.parse(result.stdout) as {
        safetyBackup?: string;
        replaced?: { name: string; undo: string; drop: string };
      };
      assert.ok(output.safetyBackup);

      const kept = output.replaced?.name;
      const inKept = kept ? notes(kept) : new Set<string>();
      const inDestination = notes(path);
      const lost = writer.acked.filter((note) => !inKept.has(note) && !inDestination.has(note));
      assert.deepEqual(lost, [], `${lost.length} of ${writer.acked.length} acknowledged writes are in no copy`);
      assert.ok(
        duringPause.every((note) => inKept.has(note)),
        'the writes made during the pause are in the kept copy',
      );
      assert.match(basename(kept ?? ''), /^app\.db\.replaced-\d{14}$/);
      assert.equal(join(dir, basename(kept ?? '')), kept);
      assert.ok(inKept.has('before the backup') && inDestination.has('before the backup'));
      assert.match(
        output.replaced?.undo ?? '',
        /^with the application stopped: sqlite3 '.*app\.db' '\.restore ".*app\.db\.replaced-\d{14}"'$/,
      );
      assert.equal(output.replaced?.drop, `rm '${kept}'`);
      // Nothing else was left beside it: no temp file of the copy.
      assert.deepEqual(
        (await fs.readdir(dir)).filter((f) => f.includes('dbbackup') || f.endsWith('.tmp')),
        [],
      );
    });
  }

  test('a destination shown as empty or missing, written to before the swap: PostgreSQL keeps the replaced database, SQLite a copy of the file the application made', async () => {
    // PostgreSQL: empty when inspected (no safety backup), then written to.
    const db = await createDatabase('empty');
    created.push(db);
    const source = await createDatabase('source');
    created.push(source);
    await sql(source, 'create table t (id int); insert into t values (1)');
    const target = await tempDir('empty-backups');
    await runBackup({ source: pgUrl(source), target });
    const pgArgs = ['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db, '--json'];
    const pgResult = await cliPausedAt('swap', pgArgs, async () => {
      await sql(db, 'create table writes (id int primary key); insert into writes values (7)');
    });
    assert.equal(pgResult.code, 0, pgResult.stderr);
    const pgOutput = JSON.parse(pgResult.stdout) as { safetyBackup?: string; replaced?: { name: string } };
    assert.equal(pgOutput.safetyBackup, undefined, 'the destination held no data when inspected');
    if (pgOutput.replaced) created.push(pgOutput.replaced.name);
    assert.deepEqual(await ids(pgOutput.replaced?.name ?? db), new Set([7]));

    // SQLite: no file when inspected, then the application creates it and writes.
    const { backups } = await sqliteApp('wal');
    const dir = await tempDir('sqlite-missing');
    const path = join(dir, 'app.db');
    const args = ['restore', '--target', backups, '--latest', '--to', `sqlite://${path}`, '--confirm', 'app.db', '--json'];
    const result = await cliPausedAt('swap', args, async () => {
      const app = new Database(path);
      app.exec("create table writes (id integer primary key, note text); insert into writes (note) values ('made meanwhile')");
      app.close();
    });
    assert.equal(result.code, 0, result.stderr);
    const kept = (JSON.parse(result.stdout) as { replaced?: { name: string } }).replaced?.name;
    assert.ok(kept, result.stdout);
    assert.deepEqual(notes(kept), new Set(['made meanwhile']));
    assert.ok(notes(path).has('before the backup'));
  });

  test('SQLite: with --drop-replaced, writes made after the safety backup are said to be in no copy; with no such writes, no copy is kept at all', async (t) => {
    const { dir, path, backups } = await sqliteApp('wal');
    const args = ['restore', '--target', backups, '--latest', '--to', `sqlite://${path}`, '--confirm', 'app.db'];
    const quiet = await cli(args);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stdout, /kept|in no copy/);
    assert.deepEqual(
      (await fs.readdir(dir)).filter((f) => f.includes('replaced')),
      [],
    );

    const writer = await startSqliteWriter(path);
    t.after(() => writer.stop());
    const result = await cliPausedAt('swap', [...args, '--drop-replaced'], async () => {
      const from = writer.acked.length;
      await waitFor('writes after the safety backup', () => writer.acked.length >= from + 5);
    });
    await writer.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /warning: another connection wrote to .*app\.db after the safety backup \(taken [^)]+\); as asked, no copy of what was replaced was kept, so those writes are in no copy/,
    );
    assert.deepEqual(
      (await fs.readdir(dir)).filter((f) => f.includes('replaced')),
      [],
    );
  });
});
