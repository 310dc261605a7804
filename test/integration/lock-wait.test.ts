import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runBackup } from '../../shared/backup/run-backup.js';
import { parseDeploymentConfig } from '../../shared/deployment/deployment-config.js';
import { deploymentWording } from '../../shared/deployment/deployment-wording.js';
import { runScheduledBackup } from '../../shared/deployment/run-scheduled-backup.js';
import { PostgresEngine } from '../../shared/engines/postgres/postgres-engine.js';
import { DumpError } from '../../shared/errors.js';
import { readSettings } from '../../shared/settings.js';
import {
  assertOnlyFailedRunRecord,
  cli,
  createBucket,
  createDatabase,
  pgPassword,
  pgUrl,
  s3Client,
  sql,
  tempDir,
} from '../harness/test-env.js';

/**
 * A table another session holds ACCESS EXCLUSIVE (as an ALTER TABLE or VACUUM FULL does while it
 * runs): a dump needs ACCESS SHARE on every table and, unbounded, waits for it until the run's deadline.
 */
describe('a table locked by another session', () => {
  let db: string;
  let holder: pg.Client;

  before(async () => {
    db = await createDatabase('lockwait');
    await sql(db, 'create table free as select 1 as g; create table busy as select generate_series(1, 100) as g');
    holder = new pg.Client({ connectionString: pgUrl(db) });
    await holder.connect();
    await holder.query('begin');
    await holder.query('lock table busy in access exclusive mode');
  });

  after(async () => {
    await holder.query('rollback').catch(() => {});
    await holder.end();
  });

  test('fails the backup after the lock wait, naming the setting, and stores nothing', async () => {
    const target = await tempDir('lockwait');
    const started = Date.now();
    const error = await runBackup({ source: pgUrl(db), target, lockWaitSeconds: 2 }).then(
      () => assert.fail('the backup succeeded behind the lock'),
      (e: unknown) => e,
    );
    const took = Date.now() - started;
    assert.ok(error instanceof DumpError, String(error));
    assert.match(error.message, /^backup of lockwait_\w+ waited 2 s for a table lock held by another session \(public\.busy/);
    assert.deepEqual(error.options, ['lockWaitSeconds']);
    assert.match(error.worded(deploymentWording).hint ?? '', /"lockWaitSeconds" in dbbackup\.config\.json/);
    assert.ok(took < 15_000, `failed after ${took} ms`);
    // No backup: only the run's record of its failure.
    await assertOnlyFailedRunRecord({ dir: target }, { error: /table lock/ });
  });

  test('the CLI says so in one line, naming --lock-wait', async () => {
    const target = await tempDir('lockwait-cli');
    const { code, stderr } = await cli(['backup', '--source', pgUrl(db), '--target', target, '--lock-wait', '1']);
    assert.notEqual(code, 0);
    assert.match(stderr, /waited 1 s for a table lock held by another session/);
    assert.match(stderr, /--lock-wait SECONDS/);
    // No backup: only the run's record of its failure.
    await assertOnlyFailedRunRecord({ dir: target }, { error: /table lock/ });
  });

  test('a scheduled backup takes the wait from the database\'s "lockWaitSeconds", and its failure email names that setting', async () => {
    const bucket = await createBucket('lockwait');
    const sent: string[] = [];
    const started = Date.now();
    await assert.rejects(
      runScheduledBackup(
        { database: 'school', tier: 'daily' },
        {
          config: parseDeploymentConfig({
            alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
            databases: [
              {
                name: 'school',
                engine: 'postgres',
                host: '127.0.0.1',
                port: Number(new URL(pgUrl()).port),
                database: db,
                secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:school-AbCdEf',
                sslmode: 'disable',
                lockWaitSeconds: 1,
              },
            ],
          }),
          bucket,
          s3Client: s3Client(),
          settings: readSettings(process.env),
          credentials: async () => ({ username: 'postgres', password: pgPassword() }),
          notifier: { description: 'a list', send: async (alert) => void sent.push(JSON.stringify(alert)) },
          runId: 'lockwait',
          log: () => {},
        },
      ),
      /waited 1 s for a table lock held by another session \(public\.busy\).*"lockWaitSeconds" in dbbackup\.config\.json/,
    );
    assert.ok(Date.now() - started < 15_000);
    assert.equal(sent.length, 1);
    assert.match(sent[0] ?? '', /lockWaitSeconds/);
    // No backup: only the scheduled run's record of its failure.
    await assertOnlyFailedRunRecord({ bucket }, { error: /table lock/ });
  });
});

describe('an ALTER TABLE that arrives during a backup', () => {
  test('queued behind the backup, it blocks pg_dump, which fails after the lock wait instead of waiting on it for ever', async () => {
    const db = await createDatabase('lockqueue');
    await sql(db, 'create table busy as select generate_series(1, 100) as g');
    const engine = new PostgresEngine(pgUrl(db), { settings: readSettings(process.env), lockWaitSeconds: 2 });
    const alter = new pg.Client({ connectionString: pgUrl(db) });
    await alter.connect();
    try {
      // The probe holds a shared lock on every table until pg_dump's first byte and the last count...
      await engine.probe();
      await alter.query('begin');
      // ...so the ALTER TABLE's exclusive lock waits for it, and pg_dump's own shared lock queues behind that.
      const altered = alter.query('alter table busy add column note text');
      altered.catch(() => {});
      await waitFor(
        async () => (await sql(db, "select 1 from pg_locks where not granted and mode = 'AccessExclusiveLock'")).length > 0,
      );
      const started = Date.now();
      const { stream, cleanup } = await engine.dump();
      const error = await stream.toArray().then(
        () => assert.fail('pg_dump finished behind the queued ALTER TABLE'),
        (e: unknown) => e,
      );
      await cleanup();
      assert.ok(error instanceof DumpError, String(error));
      assert.match(error.message, /waited 2 s for a table lock held by another session \(public\.busy\)/);
      assert.ok(Date.now() - started < 15_000, `failed after ${Date.now() - started} ms`);
      await altered;
      await alter.query('commit');
    } finally {
      await engine.close();
      await alter.end();
    }
  });
});

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail('the condition never held');
}
