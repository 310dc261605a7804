import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { cli, createDatabase, pgUrl, sql, tempDir } from '../harness/test-env.js';

function assertOneLine(result: { code: number; stdout: string; stderr: string }, code: number, pattern: RegExp): void {
  assert.equal(result.code, code, result.stdout + result.stderr);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.match(result.stderr, pattern);
}

/** A URL to `db` without its password, and an environment that offers none either (no PGPASSWORD, no password file). */
async function withoutPassword(db: string): Promise<{ url: string; env: NodeJS.ProcessEnv; tmp: string }> {
  const url = new URL(pgUrl(db));
  url.password = '';
  const home = await tempDir('nopass-home');
  const tmp = await tempDir('nopass-tmp');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, PGPASSFILE: join(home, 'none'), DBBACKUP_TMPDIR: tmp };
  delete env.PGPASSWORD;
  return { url: url.toString(), env, tmp };
}

describe('commands say what is really wrong', () => {
  test('a server that asks for a password and none was given: exit 2, saying a password is needed and where it can come from; nothing left behind', async () => {
    const db = await createDatabase('nopass');
    try {
      await sql(db, 'create table t (id int); insert into t values (1)');
      const { url, env, tmp } = await withoutPassword(db);
      const dir = await tempDir('nopass');
      const needed = /asks for a password for user "postgres", and none was given\. give it in the URL .*PGPASSWORD.*\.pgpass/;

      const backup = await cli(['backup', '--source', url, '--target', join(dir, 'b')], { env });
      assertOneLine(backup, 2, needed);
      assert.ok(!/host and port/.test(backup.stderr), backup.stderr);
      assert.deepEqual(await fs.readdir(dir), [], 'nothing stored');

      const stored = await runBackup({ source: pgUrl(db), target: join(dir, 'b') });
      const restore = await cli(['restore', '--path', stored.location, '--to', url, '--confirm', db], { env });
      assertOneLine(restore, 2, needed);

      assert.deepEqual(await fs.readdir(tmp), [], 'no temp files');
      assert.deepEqual(await sql('postgres', 'select pid from pg_stat_activity where datname = $1', [db]), []);
      assert.deepEqual(await sql(db, 'select id from t'), [{ id: 1 }]);
    } finally {
      await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    }
  });
});
