import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { runRestore } from '../../shared/restore/run-restore.js';
import { S3Target } from '../../shared/targets/s3-target.js';
import { fingerprint } from '../harness/compare-databases.js';
import {
  cli,
  createBucket,
  descendantsOf,
  createDatabase,
  fixturesDir,
  getObject,
  killCliAt,
  loadChinook as loadChinookDatabase,
  pgUrl,
  psqlFile,
  repoRoot,
  s3Client,
  sql,
  tempDir,
} from '../harness/test-env.js';

/** Changes a later migration and later use would make: a new table, inserted and deleted rows, a dropped table. */
async function mutateChinook(db: string): Promise<void> {
  await sql(
    db,
    `create table added_later (id int primary key);
     insert into added_later values (1), (2);
     insert into artist (artist_id, name) values (100000, 'Inserted after the backup');
     delete from playlist_track where playlist_id = 1;
     drop table playlist_track;`,
  );
}

/** Databases on the server whose names start with `prefix` (leftovers of killed restores show here). */
async function databasesLike(prefix: string): Promise<string[]> {
  const rows = await sql<{ datname: string }>(
    'postgres',
    'select datname from pg_database where left(datname, $2) = $1 order by 1',
    [prefix, prefix.length],
  );
  return rows.map((r) => r.datname);
}

describe('PostgreSQL restore', () => {
  let bucket: string;
  // Only what this file created is dropped afterwards: other test files run at the same time.
  const created: string[] = [];
  const loadChinook = async () => {
    const name = await loadChinookDatabase();
    created.push(name);
    return name;
  };
  before(async () => {
    bucket = await createBucket('restore');
  });

  test('Chinook: after a backup and later changes, restore --latest brings back exactly the backed-up database, with a pre-restore copy', async () => {
    const db = await loadChinook();
    const original = await fingerprint(db);
    const target = `s3://${bucket}/chinook`;
    await runBackup({ source: pgUrl(db), target });
    await mutateChinook(db);
    assert.notDeepEqual(await fingerprint(db), original);

    const result = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^restored chinook_\w+: 11 tables, \d+ rows, .* checks passed/m);
    assert.match(result.stdout, /previous content is backed up at s3:\/\/.*\.dump\.gz/);
    assert.ok(!result.stderr.includes(new URL(pgUrl()).password));

    assert.deepEqual(await fingerprint(db), original);
    const { backups } = await listBackups(new S3Target(target));
    assert.deepEqual(backups.map((b) => b.manifest.kind).sort(), ['manual', 'pre-restore']);
    assert.deepEqual(await databasesLike(`${db}__dbbackup_`), []);
  });

  test('the hard fixture (large objects, sequences, quoting, unicode) restores exactly into a database that does not exist yet', async () => {
    const db = await createDatabase('hard');
    created.push(db);
    await psqlFile(db, join(fixturesDir, 'postgres-hard.sql'));
    const target = `s3://${bucket}/hard`;
    const manifest = await runBackup({ source: pgUrl(db), target });
    const fresh = `${db}_copy`;
    created.push(fresh);
    const result = await runRestore({ target, file: manifest.backup_file, to: pgUrl(fresh), confirm: fresh });
    assert.equal(result.restored, true);
    assert.equal(result.safetyBackup, undefined);
    assert.ok(result.checks.length > 5 && result.checks.every((c) => c.ok));
    assert.deepEqual(await fingerprint(fresh), await fingerprint(db));
  });

  test('--file, --path with an S3 URI, and --path with relative and absolute local paths each restore the named backup', async () => {
    const db = await loadChinook();
    const original = await fingerprint(db);
    const dir = await tempDir('paths');
    const s3 = await runBackup({ source: pgUrl(db), target: `s3://${bucket}/modes` });
    const local = await runBackup({ source: pgUrl(db), target: dir });
    const restoreWith = async (args: string[], cwd?: string) => {
      await mutateChinook(db);
      const result = await cli(['restore', ...args, '--to', pgUrl(db), '--confirm', db, '--no-safety-backup'], { cwd });
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      assert.deepEqual(await fingerprint(db), original, args.join(' '));
    };
    await restoreWith(['--target', `s3://${bucket}/modes`, '--file', s3.backup_file]);
    await restoreWith(['--path', s3.location]);
    await restoreWith(['--path', local.location]);
    await restoreWith(['--path', relative(dir, local.location)], dir);
  });

  test('one byte changed in the stored object: exit 3, the destination untouched, and the next older backup suggested', async () => {
    const db = await loadChinook();
    const target = `s3://${bucket}/corrupt`;
    const older = await runBackup({ source: pgUrl(db), target }, { now: () => new Date(Date.now() - 60_000) });
    const newest = await runBackup({ source: pgUrl(db), target });
    await mutateChinook(db);
    const before = await fingerprint(db);
    const bytes = await getObject(bucket, newest.key);
    bytes[Math.floor(bytes.length / 3)] = (bytes[Math.floor(bytes.length / 3)] as number) ^ 0x10;
    await s3Client().send(new PutObjectCommand({ Bucket: bucket, Key: newest.key, Body: bytes }));

    const result = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db]);
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /is corrupt: .*the destination was not touched/);
    assert.ok(result.stderr.includes(`--file ${older.backup_file}`), result.stderr);
    assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
    assert.deepEqual(await fingerprint(db), before);
  });

  test('killed with SIGKILL during the download, before and during pg_restore, and just before the swap: the destination is unchanged each time, and a later restore succeeds', async () => {
    const db = await loadChinook();
    const original = await fingerprint(db);
    const target = `s3://${bucket}/killed`;
    await runBackup({ source: pgUrl(db), target });
    await mutateChinook(db);
    const mutated = await fingerprint(db);
    const args = ['restore', '--target', target, '--latest', '--to', pgUrl(db), '--confirm', db, '--no-safety-backup'];

    for (const point of ['download', 'restore', 'swap']) {
      await killCliAt(point, args);
      assert.deepEqual(await fingerprint(db), mutated, `after a kill at ${point}`);
    }

    // During pg_restore itself: kill the CLI as soon as the pg_restore that loads the data is running. It
    // runs under the watchdog shell (run-command.ts), so it is the CLI's grandchild; the CLI's own
    // pg_restore children (--version, reads of the archive's head) are not the restore.
    const child = spawn(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), ...args], { stdio: 'ignore' });
    let killed = false;
    for (let i = 0; i < 2000 && !killed; i++) {
      if (descendantsOf(child.pid ?? 0).some((p) => p.name === 'pg_restore' && p.argv.includes('--single-transaction'))) {
        child.kill('SIGKILL');
        killed = true;
      } else await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(killed, 'pg_restore was never seen running');
    await new Promise((resolve) => child.on('close', resolve));
    assert.deepEqual(await fingerprint(db), mutated, 'after a kill during pg_restore');

    const result = await cli(args);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await fingerprint(db), original);
    assert.deepEqual(await databasesLike(`${db}__dbbackup_`), [], 'leftovers of the killed runs are cleaned up');
  });

  test('with skip-their-grants, roles that do not exist on the destination are reported, not fatal; objects belong to the restoring user', async () => {
    const db = await loadChinook();
    const role = `reporting_${db.slice(-8)}`;
    await sql(db, `create role ${role}; grant select on album to ${role}`);
    const target = `s3://${bucket}/roles`;
    await runBackup({ source: pgUrl(db), target });
    await sql(db, `drop owned by ${role}; drop role ${role}`);
    // The default refuses (test/integration/restore-privileges.test.ts); this is the explicit choice to go ahead.
    const result = await runRestore({
      target,
      latest: true,
      database: db,
      to: pgUrl(db),
      confirm: db,
      noSafetyBackup: true,
      missingRoles: 'skip-their-grants',
    });
    assert.equal(result.restored, true);
    assert.ok(
      result.warnings.some((w) => w.includes(role)),
      result.warnings.join('; '),
    );
  });

  test('a backup written by a newer pg_dump than any pg_restore here: exit 2 naming both versions', async () => {
    const db = await loadChinook();
    const dir = await tempDir('newer');
    const manifest = await runBackup({ source: pgUrl(db), target: dir });
    const manifestPath = `${manifest.location}.json`;
    const forged = { ...manifest, engine_version: { ...manifest.engine_version, pg_dump: 'pg_dump (PostgreSQL) 99.1' } };
    await fs.writeFile(manifestPath, JSON.stringify(forged));
    const result = await cli(['restore', '--path', manifest.location, '--to', pgUrl(db), '--confirm', db]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /written by pg_dump \(PostgreSQL\) 99\.1; the newest pg_restore here is pg_dump|written by pg_dump \(PostgreSQL\) 99\.1; the newest pg_restore here is pg_restore \(PostgreSQL\) 1\d/,
    );
    assert.match(result.stderr, /postgresql-client-99/);
  });

  test('--dry-run verifies and shows what would be replaced, and changes nothing', async () => {
    const db = await loadChinook();
    const target = `s3://${bucket}/dry`;
    await runBackup({ source: pgUrl(db), target });
    await mutateChinook(db);
    const before = await fingerprint(db);
    const result = await cli(['restore', '--target', target, '--latest', '--to', pgUrl(db), '--dry-run', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.equal(json.dryRun, true);
    assert.equal(json.plan.destination.exists, true);
    assert.equal(json.plan.backup.verified, true);
    assert.deepEqual(await fingerprint(db), before);
    assert.equal((await listBackups(new S3Target(target))).backups.length, 1, 'no safety backup on a dry run');
  });

  after(async () => {
    for (const db of created) await sql('postgres', `drop database if exists "${db}" with (force)`).catch(() => {});
  });
});
