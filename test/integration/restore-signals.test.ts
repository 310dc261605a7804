import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { fingerprint } from '../harness/compare-databases.js';
import { cliWithin, createBucket, loadChinook, pgUrl, samplesDir, sql, tempDir, treeOf } from '../harness/test-env.js';

/**
 * Runs the CLI with DBBACKUP_TEST_PAUSE_AT=point, sends `signal` once it says it paused there,
 * and returns how it ended and how long after the signal.
 */
async function signalAt(point: string, signal: NodeJS.Signals, args: string[], env: NodeJS.ProcessEnv) {
  let child: ChildProcess | undefined;
  let signalled = 0;
  const result = await cliWithin(args, {
    env: { ...env, DBBACKUP_TEST_PAUSE_AT: point },
    limitMs: 60_000,
    onStart: (c) => {
      child = c;
    },
    onStderr: (text) => {
      if (!signalled && text.includes(`paused at ${point}`)) {
        signalled = Date.now();
        child?.kill(signal);
      }
    },
  });
  assert.ok(signalled, `the run never reached ${point}: ${result.stderr}`);
  return { ...result, afterSignalMs: Date.now() - signalled };
}

describe('restore stops cleanly on SIGINT and SIGTERM', () => {
  test('SQLite, during the download: exit 130 within seconds, the destination unchanged, no temp file left', async () => {
    const dir = await tempDir('restore-signal');
    const tmp = await tempDir('restore-signal-tmp');
    const path = join(dir, 'app.db');
    await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
    await runBackup({ source: path, target: join(dir, 'b') });
    const before = await fs.readFile(path);
    const result = await signalAt(
      'download',
      'SIGINT',
      ['restore', '--target', join(dir, 'b'), '--latest', '--to', path, '--confirm', 'app.db', '--no-safety-backup'],
      { ...process.env, DBBACKUP_TMPDIR: tmp },
    );
    assert.ok(!result.timedOut && result.afterSignalMs < 5_000, `ended ${result.afterSignalMs} ms after SIGINT`);
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /dbbackup restore: restore .*cancelled \(SIGINT\)/);
    assert.deepEqual(await fs.readFile(path), before);
    assert.deepEqual(await treeOf(tmp), []);
  });

  test('PostgreSQL, with the new database created: exit 143 within seconds, the new database dropped, the destination unchanged', async () => {
    const db = await loadChinook();
    const tmp = await tempDir('restore-signal-tmp');
    const target = `s3://${await createBucket('restore-signal')}`;
    await runBackup({ source: pgUrl(db), target });
    await sql(db, 'delete from invoice_line');
    const before = await fingerprint(db);
    const result = await signalAt(
      'restore',
      'SIGTERM',
      ['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db, '--no-safety-backup'],
      { ...process.env, DBBACKUP_TMPDIR: tmp },
    );
    assert.ok(!result.timedOut && result.afterSignalMs < 5_000, `ended ${result.afterSignalMs} ms after SIGTERM`);
    assert.equal(result.code, 143, result.stderr);
    assert.deepEqual(await fingerprint(db), before);
    const leftovers = await sql('postgres', `select datname from pg_database where datname like $1`, [`${db}__dbbackup_%`]);
    assert.deepEqual(leftovers, [], 'the half-made database is dropped');
    assert.deepEqual(await treeOf(tmp), []);
    await sql('postgres', `drop database if exists "${db}" with (force)`);
  });
});
