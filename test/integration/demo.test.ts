import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { simulatedHistory } from '../../cli/commands/demo.js';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { listRunRecords, runRecordPrefix } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { cli, sampleCopy, tempDir } from '../harness/test-env.js';

describe('npm start: the whole life of a backup in one command', () => {
  test('backs up, simulates a schedule’s history once, and shows prune --dry-run, health, a drill and report --html on it', async () => {
    const dir = await tempDir('demo-life');
    const first = await cli(['demo'], { cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    const out = first.stdout;
    // As a new user meets it: the backup first, with where it is and what to do next.
    assert.match(out, /^backup completed: .*backups\/sqlite\/chinook\/\d{4}\/backup_chinook_\d{8}_\d{6}_[0-9a-f]{8}\.db\.gz/);
    assert.match(out, /manifest: backups\/sqlite\/chinook\/.*\.db\.gz\.json/);
    for (const verb of ['list', 'verify', 'restore', 'prune', 'health', 'report'])
      assert.match(out, new RegExp(`npx dbbackup ${verb} `));
    const verify = await cli(['verify', '--target', 'backups', '--latest'], { cwd: dir });
    assert.equal(verify.code, 0, verify.stderr);

    // The history a default schedule would have made, one failed run among it.
    const history = simulatedHistory(new Date());
    const target = await openTarget(join(dir, 'backups'));
    const { backups } = await listBackups(target, { database: 'chinook' });
    assert.equal(backups.length, history.length - 1 + 1, 'every simulated run but the failed one, and the real backup');
    assert.deepEqual(
      backups
        .filter((b) => b.manifest.kind === 'scheduled')
        .map((b) => b.manifest.label)
        .sort(),
      history
        .filter((r) => !r.fails)
        .map((r) => r.tier)
        .sort(),
    );

    // prune --dry-run shows a plan with deletions (10 dailies against a default of 7) and deletes nothing.
    assert.match(out, /\$ dbbackup prune --target backups --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run/);
    const deleting = Number(/\(dry run: (\d+) backup\(s\) would be deleted/.exec(out)?.[1]);
    assert.ok(deleting > 0, out);
    assert.equal((out.match(/^DELETE\s+chinook/gm) ?? []).length, deleting);
    assert.match(out, /^keep\s+chinook\s+\S+\s+manual\s+.*newest/m);

    assert.match(out, /^ok\s+chinook: .*daily .* old.*3 verified$/m);
    assert.match(out, /^drill passed: backup_chinook_\S+, .*12\/12 checks passed\)$/m);

    // The report counts every run, the failed one with its error, and the HTML is written whole.
    assert.match(out, /runs\s+\d+, 1 failed/);
    assert.match(out, /error ×1\s+SQLite database .*missing-on-purpose\.sqlite does not exist/);
    const html = await fs.readFile(join(dir, 'backups/report.html'), 'utf8');
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /chinook/);
    assert.doesNotMatch(html, /<script/i);

    // Run records carry the simulated times, as the manifests do, so trends are per week, not per second.
    const records = await listRunRecords(target, { prefix: runRecordPrefix('sqlite', 'chinook') });
    const scheduled = records.records.filter((r) => r.kind === 'scheduled');
    assert.deepEqual(scheduled.map((r) => r.started_at).sort(), history.map((r) => r.at.toISOString()).sort());
    assert.doesNotMatch(out, /trend [+-]\d+m \d+s\/week/, 'a duration trend of minutes per week from runs of milliseconds');

    // Run again, it keeps the history it made instead of adding a second one.
    const second = await cli(['demo'], { cwd: dir });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /history an earlier demo simulated in backups is used as it is/);
    const after = await listBackups(target, { database: 'chinook' });
    assert.equal(after.backups.length, backups.length + 1);
  });

  test('refuses a target holding another database’s backups, or a URL, before writing anything', async () => {
    const dir = await tempDir('demo-refuse');
    const source = await sampleCopy('chinook/Chinook_Sqlite.sqlite');
    await runBackup({ source, target: join(dir, 'real'), name: 'payroll' });
    const before = await fs.readdir(join(dir, 'real'), { recursive: true });
    const refused = await cli(['demo', '--target', 'real'], { cwd: dir });
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /^dbbackup demo: real holds backups of payroll: the demo adds simulated, backdated backups/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.deepEqual(await fs.readdir(join(dir, 'real'), { recursive: true }), before, 'nothing added');
    const url = await cli(['demo', '--target', 's3://bucket/demo'], { cwd: dir });
    assert.equal(url.code, 2, url.stderr);
    assert.match(url.stderr, /the demo writes to a local directory, not s3:\/\/bucket\/demo/);
  });

  test('the simulated history lies in the past and stands for every tier', () => {
    for (const now of ['2026-11-22T11:00:00Z', '2026-11-01T02:30:00Z', '2026-03-01T00:00:01Z', '2027-01-04T23:59:59Z']) {
      const runs = simulatedHistory(new Date(now));
      assert.ok(
        runs.every((r) => r.at.getTime() < Date.parse(now)),
        now,
      );
      for (const tier of ['daily', 'weekly', 'monthly'])
        assert.ok(
          runs.some((r) => r.tier === tier && !r.fails),
          `${now} ${tier}`,
        );
      assert.equal(runs.filter((r) => r.fails).length, 1);
    }
  });
});
