import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listRunRecords } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { fingerprint } from '../harness/compare-databases.js';
import {
  cli,
  cliWithin,
  createBucket,
  createDatabase,
  killCliAt,
  loadChinook,
  pgUrl,
  samplesDir,
  sql,
  tempDir,
  treeOf,
} from '../harness/test-env.js';

/**
 * The drill databases of `db` on the harness server: its scratch database and any restore left of
 * it, whose temporary name keeps only the scratch name's first 31 bytes.
 */
async function scratchDatabasesOf(db: string): Promise<string[]> {
  const rows = await sql<{ datname: string }>('postgres', `select datname from pg_database where datname like $1`, [
    `${`dbbackup_drill_${db}`.slice(0, 31)}%`,
  ]);
  return rows.map((r) => r.datname);
}

async function drillRecords(target: string) {
  const { records, problems } = await listRunRecords(await openTarget(target));
  assert.deepEqual(problems, []);
  return records.filter((r) => r.kind === 'drill');
}

describe('dbbackup drill', () => {
  test('PostgreSQL: restores the newest backup into a scratch database, checks it, drops it, records a passed drill; the source is untouched', async () => {
    const db = await loadChinook();
    const target = `s3://${await createBucket('drill')}`;
    const manifest = await runBackup({ source: pgUrl(db), target });
    const before = await fingerprint(db);

    const result = await cli(['drill', '--target', target, '--database', db, '--into', pgUrl('postgres'), '--json']);

    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(report.result, 'succeeded');
    assert.equal(report.backupKey, manifest.key);
    assert.ok((report.rows as number) > 15_000, `rows checked: ${String(report.rows)}`);
    assert.deepEqual(await scratchDatabasesOf(db), [], 'the scratch database is dropped');
    const [record, ...more] = await drillRecords(target);
    assert.equal(more.length, 0);
    assert.equal(record?.result, 'succeeded');
    assert.equal(record?.database, db);
    assert.equal(record?.backup_key, manifest.key);
    assert.equal(record?.error, null);
    assert.ok((record?.duration_ms ?? 0) > 0);
    assert.deepEqual(await fingerprint(db), before, 'the source database is unchanged');
    await sql('postgres', `drop database "${db}" with (force)`);
  });

  test('PostgreSQL, human output: one line with the backup, its age, the time to restore and the rows checked', async () => {
    const db = await loadChinook();
    const dir = await tempDir('drill-human');
    await runBackup({ source: pgUrl(db), target: dir });

    const result = await cli([
      'drill',
      '--target',
      dir,
      '--database',
      db,
      '--into',
      pgUrl('postgres').replace(/\/postgres$/, ''),
    ]);

    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 1, result.stdout);
    assert.match(
      lines[0] ?? '',
      /^drill passed: backup_.*\.dump\.gz, taken .* ago, restored in .*; \d+ tables, \d+ rows checked/,
    );
    assert.deepEqual(await scratchDatabasesOf(db), []);
    await sql('postgres', `drop database "${db}" with (force)`);
  });

  test('a corrupted backup fails the drill: one line, exit 3, a failed record, no scratch database left', async () => {
    const db = await loadChinook();
    const dir = await tempDir('drill-corrupt');
    const manifest = await runBackup({ source: pgUrl(db), target: dir });
    const file = join(dir, manifest.key);
    const bytes = await fs.readFile(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
    await fs.writeFile(file, bytes);

    const result = await cli(['drill', '--target', dir, '--database', db, '--into', pgUrl('postgres')]);

    assert.equal(result.code, 3, result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.match(result.stderr, /^dbbackup drill: /);
    assert.equal(result.stdout, '');
    assert.deepEqual(await scratchDatabasesOf(db), []);
    const [record] = await drillRecords(dir);
    assert.equal(record?.result, 'failed');
    assert.equal(record?.backup_key, manifest.key);
    assert.ok(record?.error && record.error.length > 0);
    await sql('postgres', `drop database "${db}" with (force)`);
  });

  test('SIGTERM mid-restore: exit 143, no scratch database left, a failed record', async () => {
    const db = await loadChinook();
    const target = `s3://${await createBucket('drill-signal')}`;
    await runBackup({ source: pgUrl(db), target });
    let child: ChildProcess | undefined;
    let signalled = 0;

    const result = await cliWithin(['drill', '--target', target, '--database', db, '--into', pgUrl('postgres')], {
      env: { ...process.env, DBBACKUP_TEST_PAUSE_AT: 'restore' },
      limitMs: 60_000,
      onStart: (c) => {
        child = c;
      },
      onStderr: (text) => {
        if (!signalled && text.includes('paused at restore')) {
          signalled = Date.now();
          child?.kill('SIGTERM');
        }
      },
    });

    assert.ok(signalled, `the drill never reached the restore: ${result.stderr}`);
    assert.equal(result.code, 143, result.stderr);
    assert.deepEqual(await scratchDatabasesOf(db), []);
    const [record] = await drillRecords(target);
    assert.equal(record?.result, 'failed');
    await sql('postgres', `drop database "${db}" with (force)`);
  });

  test('SIGKILL mid-restore (a Lambda cut off at its timeout, an OOM kill): the next drill drops what it left, and says so; a live drill is never touched', async () => {
    const db = await createDatabase('drillkill');
    await sql(db, 'create table t (x int); insert into t select generate_series(1, 100)');
    const target = await tempDir('drill-kill');
    await runBackup({ source: pgUrl(db), target });
    // A drill of another database, paused mid-restore all along: its scratch stays.
    const other = await createDatabase('drilllive');
    await runBackup({ source: pgUrl(other), target });
    let child: ChildProcess | undefined;
    let paused = false;
    const resume = join(await tempDir('drill-resume'), 'go');
    const live = cliWithin(['drill', '--target', target, '--database', other, '--into', pgUrl('postgres')], {
      env: { ...process.env, DBBACKUP_TEST_PAUSE_AT: 'restore', DBBACKUP_TEST_RESUME_FILE: resume },
      limitMs: 60_000,
      onStart: (c) => {
        child = c;
      },
      onStderr: (text) => {
        if (text.includes('paused at restore')) paused = true;
      },
    });
    while (!paused) await new Promise((r) => setTimeout(r, 50));
    const liveScratch = await scratchDatabasesOf(other);
    assert.notDeepEqual(liveScratch, []);

    const args = ['drill', '--target', target, '--database', db, '--into', pgUrl('postgres')];
    await killCliAt('restore', args);
    const left = await scratchDatabasesOf(db);
    assert.notDeepEqual(left, [], 'the kill left a scratch database behind');

    const again = await cli(args);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await scratchDatabasesOf(db), [], 'what the killed drill left is gone');
    for (const name of left)
      assert.match(again.stderr, new RegExp(`warning: dropped .*${name}.* left by a drill that was stopped`));
    assert.deepEqual(await scratchDatabasesOf(other), liveScratch, 'the live drill keeps its scratch database');

    await fs.writeFile(resume, '');
    const liveResult = await live;
    assert.equal(liveResult.code, 0, liveResult.stderr);
    assert.ok(child);
    assert.deepEqual(await scratchDatabasesOf(other), []);
    for (const name of [db, other]) await sql('postgres', `drop database "${name}" with (force)`);
  });

  test('SQLite: restores into a temporary file in the --into directory and removes it', async () => {
    const dir = await tempDir('drill-sqlite');
    const scratch = await tempDir('drill-sqlite-scratch');
    const path = join(dir, 'app.db');
    await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
    await runBackup({ source: path, target: join(dir, 'b') });
    const before = await fs.readFile(path);

    const result = await cli(['drill', '--target', join(dir, 'b'), '--database', 'app', '--into', scratch, '--json']);

    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { result: string }).result, 'succeeded');
    assert.deepEqual(await treeOf(scratch), [], 'no scratch file left');
    assert.deepEqual(await fs.readFile(path), before);
    const [record] = await drillRecords(join(dir, 'b'));
    assert.equal(record?.result, 'succeeded');
    assert.equal(record?.engine, 'sqlite');
  });

  test('bad flags: one line, exit 2, no scratch database and no record', async () => {
    const db = await loadChinook();
    const dir = await tempDir('drill-flags');
    await runBackup({ source: pgUrl(db), target: dir });
    const cases: Array<{ args: string[]; says: RegExp }> = [
      { args: ['--into', pgUrl(db)], says: /names the database ".*"; a drill restores into a new scratch database/ },
      { args: [], says: /needs a server it may create databases on/ },
      { args: ['--into', '/tmp'], says: /not a PostgreSQL server URL/ },
    ];
    for (const { args, says } of cases) {
      const result = await cli(['drill', '--target', dir, '--database', db, ...args]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
      assert.match(result.stderr, says);
    }
    const unknown = await cli(['drill', '--target', dir, '--database', 'nosuch', '--into', pgUrl('postgres')]);
    assert.equal(unknown.code, 2, unknown.stderr);
    assert.deepEqual(await scratchDatabasesOf(db), []);
    assert.deepEqual(await drillRecords(dir), []);
    await sql('postgres', `drop database "${db}" with (force)`);
  });
});
