import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { manifestSchema } from '../../shared/manifest.js';
import { cli, createDatabase, pgUrl, sampleCopy, sessionsOn, sql, tempDir, uniqueName } from '../harness/test-env.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

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
      // Bad input given by hand leaves nothing behind, not even a run record.
      assert.deepEqual(await fs.readdir(join(dir, 'b')).catch(() => []), []);

      const stored = await runBackup({ source: pgUrl(db), target: join(dir, 'b') });
      const restore = await cli(['restore', '--path', stored.location, '--to', url, '--confirm', db], { env });
      assertOneLine(restore, 2, needed);

      assert.deepEqual(await fs.readdir(tmp), [], 'no temp files');
      assert.deepEqual(await sessionsOn(db), []);
      assert.deepEqual(await sql(db, 'select id from t'), [{ id: 1 }]);
    } finally {
      await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    }
  });

  test('a flipped byte that stops pg_restore early (the magic, a block length, the gzip stream): verify says the backup is corrupt, naming the SHA-256 mismatch', async () => {
    const db = await createDatabase('flipped');
    try {
      // About 20 MB of archive: more than passes through before pg_restore gives up on a damaged header.
      await sql(db, 'create table t as select g as id, md5(g::text) as m from generate_series(1, 500000) g');
      const dir = await tempDir('flipped');
      const plain = await runBackup({ source: pgUrl(db), target: dir, compression: 'none' });
      const gzip = await runBackup({ source: pgUrl(db), target: dir });
      const archive = await fs.readFile(plain.location);
      const firstRow = archive.indexOf('1\tc4ca4238a0b923820dcc509a6f75849b\n');
      assert.ok(firstRow > 0);
      const cases = [
        { name: 'the archive magic', backup: plain, offset: 0 },
        // The high byte of the first data block's length: pg_restore asks for 2 GB and says "out of memory".
        { name: 'a data block length', backup: plain, offset: firstRow - 1 },
        { name: 'the gzip stream', backup: gzip, offset: Math.floor(gzip.size_bytes / 3) },
      ];
      for (const { name, backup, offset } of cases) {
        const bytes = await fs.readFile(backup.location);
        bytes[offset] = (bytes[offset] as number) ^ 0x80;
        await fs.writeFile(backup.location, bytes);
        const tmp = await tempDir('flipped-tmp');
        const result = await cli(['verify', '--target', dir, '--file', backup.backup_file], {
          env: { ...process.env, DBBACKUP_TMPDIR: tmp },
        });
        assert.equal(result.code, 3, `${name}: ${result.stdout}${result.stderr}`);
        assert.deepEqual(await fs.readdir(tmp), [], `${name}: no temp files are left`);
        assert.match(
          result.stdout,
          new RegExp(
            `^CORRUPT {2}${backup.backup_file} .*: the stored backup is corrupt: SHA-256 of .* is [0-9a-f]{64}, the manifest says ${backup.hash}$`,
            'm',
          ),
          name,
        );
        assert.ok(!/out of memory/.test(result.stdout), `${name}: ${result.stdout}`);
        bytes[offset] = (bytes[offset] as number) ^ 0x80;
        await fs.writeFile(backup.location, bytes);
      }
    } finally {
      await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
    }
  });

  test('list, info, verify and restore on a directory that does not exist: exit 2 saying so, and nothing is created', async () => {
    const base = await tempDir('missing');
    const target = join(base, 'no', 'such', 'dir');
    for (const args of [
      ['list', '--target', target],
      ['list', '--target', target, '--json'],
      ['info', '--target', target],
      ['verify', '--target', target, '--all'],
      ['restore', '--target', target, '--latest', '--to', join(base, 'x.db'), '--confirm', 'x.db'],
    ]) {
      assertOneLine(await cli(args), 2, /backup target \/.*\/no\/such\/dir does not exist\. check --target$/m);
    }
    assert.deepEqual(await fs.readdir(base), []);
    const bucket = uniqueName('no-such-bucket').replace(/_/g, '-');
    assertOneLine(await cli(['list', '--target', `s3://${bucket}/x`]), 2, new RegExp(`bucket "${bucket}" does not exist`));
  });

  test('info shows pre-restore copies apart from backups, in its table and its JSON', async () => {
    const dir = await tempDir('prerestore');
    const path = join(dir, 'app.db');
    await fs.copyFile(chinook, path);
    const target = join(dir, 'b');
    const backup = await runBackup({ source: path, target });
    const restore = await cli(['restore', '--target', target, '--latest', '--to', path, '--confirm', 'app.db']);
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /previous content is backed up at/);

    const json = JSON.parse((await cli(['info', '--target', target, '--json'])).stdout) as {
      databases: Array<{ database: string; count: number; totalBytes: number }>;
      preRestoreCopies: Array<{ database: string; count: number }>;
    };
    assert.deepEqual(
      json.databases.map((d) => [d.database, d.count, d.totalBytes]),
      [['app', 1, backup.size_bytes]],
    );
    assert.deepEqual(
      json.preRestoreCopies.map((d) => [d.database, d.count]),
      [['app', 1]],
    );
    const info = await cli(['info', '--target', target]);
    assert.equal(info.code, 0, info.stderr);
    assert.match(info.stdout, /^DATABASE\s+ENGINE\s+BACKUPS\s.*\napp\s+sqlite\s+1\s/);
    assert.match(info.stdout, /\n\npre-restore copies .*\nDATABASE\s+ENGINE\s+COPIES\s.*\napp\s+sqlite\s+1\s/);
  });

  test("--json keys are camelCase in every command's output; a manifest's fields keep their snake_case names", async () => {
    const dir = await tempDir('json');
    const path = join(dir, 'app.db');
    await fs.copyFile(chinook, path);
    const target = join(dir, 'b');
    // An unreadable manifest of another database: info and verify list it, restore warns of it.
    await fs.mkdir(join(target, 'sqlite/other/2026'), { recursive: true });
    await fs.writeFile(join(target, 'sqlite/other/2026/backup_other_20260101_000000.db.gz.json'), '{');
    const outputs: Record<string, string> = {
      backup: (await cli(['backup', '--source', path, '--target', target, '--json'])).stdout,
      list: (await cli(['list', '--target', target, '--json'])).stdout,
      info: (await cli(['info', '--target', target, '--json'])).stdout,
      verify: (await cli(['verify', '--target', target, '--all', '--json'])).stdout,
      'restore --dry-run': (await cli(['restore', '--target', target, '--latest', '--to', path, '--dry-run', '--json'])).stdout,
      restore: (await cli(['restore', '--target', target, '--latest', '--to', path, '--confirm', 'app.db', '--json'])).stdout,
    };
    const manifestFields = new Set(Object.keys(manifestSchema.shape));
    const camel = /^[a-z][a-zA-Z0-9]*$/;
    for (const [command, stdout] of Object.entries(outputs)) {
      const keys: string[] = [];
      const walk = (value: unknown): void => {
        if (Array.isArray(value)) value.forEach(walk);
        else if (value && typeof value === 'object') {
          const entries = Object.entries(value);
          // A manifest: its own field names, as stored; what is inside its maps (tables, versions) is data.
          if (entries.length > 0 && entries.every(([k]) => manifestFields.has(k))) return;
          for (const [k, v] of entries) {
            keys.push(k);
            walk(v);
          }
        }
      };
      walk(JSON.parse(stdout));
      if (command !== 'backup' && command !== 'list') assert.ok(keys.length > 3, `${command}: ${stdout}`);
      assert.deepEqual(
        keys.filter((k) => !camel.test(k)),
        [],
        `${command} --json`,
      );
    }
  });
});
