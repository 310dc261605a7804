import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import type { Manifest } from '../../shared/manifest.js';
import { writeRunRecord } from '../../shared/runs/run-record.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { runRecordOf } from '../harness/fixtures.js';
import { chromium, databaseSection, unescapeHtml } from '../harness/chromium.js';
import { nonWhitePixels } from '../harness/png-pixels.js';
import { type SecretsServer, startSecretsServer } from '../harness/secrets-server.js';
import { createBucket, repoRoot, runAllowingFailure, sampleCopy, tempDir } from '../harness/test-env.js';

const sqliteChinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');
const HOUR = 3_600_000;
/** A second database; names hold only letters, digits, "_" and "-" (markup in them is the unit test's). */
const OTHER = 'sales_eu-2';
const DRILL_ERROR = `row counts differ: <script>alert(1)</script> "Album" & more`;

/** A Lambda stand-in for the functions the buttons invoke: records each invocation, answers `answer`. */
async function lambdaStandIn(
  answer: (name: string) => unknown,
): Promise<{ server: Server; url: string; calls: Array<{ name: string; event: unknown }> }> {
  const calls: Array<{ name: string; event: unknown }> = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const name = decodeURIComponent(/\/functions\/([^/]+)\/invocations/.exec(request.url ?? '')?.[1] ?? '');
      calls.push({ name, event: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer(name)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

/** One database's section of the widget's HTML (or of Chromium's DOM). */
function sectionOf(html: string, database: string): string {
  const found = databaseSection(html, database);
  assert.ok(found !== undefined, `no section for ${database}`);
  return found;
}

const values = (section: string, field: string) =>
  [...section.matchAll(new RegExp(`data-field="${field}" data-value="([^"]*)"`, 'g'))].map((m) => unescapeHtml(m[1] as string));

describe('the console widget function (compiled, in a child process) against S3', () => {
  let bucket = '';
  let dir = '';
  let lambda: Awaited<ReturnType<typeof lambdaStandIn>>;
  let secrets: SecretsServer;
  const manifests: Record<string, Manifest[]> = {};
  /** The widget's own config secret, as the stack writes it: names, schedules, engines, the functions it invokes. */
  const CONFIG_SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:console-config-AbCdEf';
  const config = () => ({
    alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
    databases: ['school', OTHER].map((name) => ({
      name,
      engine: 'sqlite',
      restoreFunction: 'DbBackup-n1-1-restore',
      schedules: { weekly: { hour: 4, enabled: false }, monthly: { hour: 3, enabled: false } },
    })),
    healthFunction: 'DbBackup-HealthCheck',
  });

  async function invoke(event: unknown): Promise<{ html: string; code: number | null; output: string }> {
    const result = await runAllowingFailure(
      process.execPath,
      [
        join(repoRoot, 'dist/test/harness/invoke-handler.js'),
        join(repoRoot, 'dist/functions/console-widget.js'),
        JSON.stringify(event),
      ],
      {
        env: {
          ...process.env,
          DBBACKUP_BUCKET: bucket,
          DBBACKUP_CONFIG: '',
          DBBACKUP_CONFIG_SECRET: CONFIG_SECRET,
          AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
          AWS_ENDPOINT_URL_LAMBDA: lambda.url,
          DBBACKUP_TEST_LAMBDA_TIMEOUT_MS: '60000',
        },
      },
    );
    const last = result.stdout.trim().split('\n').at(-1) ?? '';
    const html = last.startsWith('RESULT ') ? (JSON.parse(last.slice('RESULT '.length)) as string) : '';
    return { html, code: result.code, output: result.stdout + result.stderr };
  }

  before(async () => {
    bucket = await createBucket('console');
    secrets = await startSecretsServer(() => ({ [CONFIG_SECRET]: JSON.stringify(config()) }));
    dir = await tempDir('console-widget');
    lambda = await lambdaStandIn((name) =>
      name.endsWith('-restore')
        ? {
            plan: {
              backup: { location: `s3://${bucket}/sqlite/school/x.db.gz`, sizeBytes: 345678, verified: true },
              destination: { name: 'scratch.db', description: 'sqlite:///mnt/data/scratch.db', kind: 'sqlite', noun: 'file' },
            },
            dryRun: true,
            restored: false,
            bytes: 1,
            durationMs: 1,
            checks: [],
            warnings: [],
          }
        : { status: 'healthy', findings: 0 },
    );
    const backup = (name: string, hoursAgo: number) =>
      runBackup(
        { source: sqliteChinook, target: `s3://${bucket}`, name, kind: 'scheduled', label: 'daily' },
        { now: () => new Date(Date.now() - hoursAgo * HOUR) },
      );
    await backup('school', 30);
    await backup('school', 2);
    await backup(OTHER, 1);
    const target = await openTarget(`s3://${bucket}`);
    for (const name of ['school', OTHER])
      manifests[name] = (await listBackups(target, { database: name })).backups.map((b) => b.manifest);
    const drill = (startedHoursAgo: number, result: 'succeeded' | 'failed', runId: string) =>
      runRecordOf({
        database: 'school',
        kind: 'drill',
        started: new Date(Date.now() - startedHoursAgo * HOUR),
        result,
        error: DRILL_ERROR,
        durationMs: 4200,
        runId,
      });
    for (const record of [drill(24 * 40, 'succeeded', '0123abcd'), drill(24 * 3, 'failed', '4567cdef')])
      assert.ok('key' in (await writeRunRecord(target, record)));
  });

  after(async () => {
    lambda.server.close();
    await secrets.stop();
  });

  test('the view: each database’s newest backups with their sizes and ages, its health and its last drill', async () => {
    const { html, code, output } = await invoke({ widgetContext: { forms: { all: {} }, params: {} } });
    assert.equal(code, 0, output);
    const school = sectionOf(html, 'school');
    assert.deepEqual(
      values(school, 'size'),
      manifests.school?.map((m) => String(m.size_bytes)),
    );
    const ages = values(school, 'age').map(Number);
    assert.equal(ages.length, 2);
    assert.ok(Math.abs((ages[0] as number) - 2 * 3600) < 120, `newest: ${ages[0]} s`);
    assert.ok(Math.abs((ages[1] as number) - 30 * 3600) < 120, `older: ${ages[1]} s`);
    assert.deepEqual(values(school, 'status'), ['healthy']);
    // The newer of two drills, its error shown as text.
    assert.deepEqual(values(school, 'drill'), ['failed']);
    assert.ok(school.includes('row counts differ: &lt;script&gt;alert(1)&lt;/script&gt; &quot;Album&quot; &amp; more'));
    const hostile = sectionOf(html, OTHER);
    assert.deepEqual(
      values(hostile, 'size'),
      manifests[OTHER]?.map((m) => String(m.size_bytes)),
    );
    assert.deepEqual(values(hostile, 'drill'), ['none']);
    assert.doesNotMatch(html, /<script/i);
    assert.deepEqual(lambda.calls, [], 'drawing the view invokes nothing');
  });

  test('Chromium draws the widget: far from blank, and the sizes, ages and drill in its DOM are the data’s', async () => {
    const { html } = await invoke({ widgetContext: { forms: { all: {} } } });
    const page = join(dir, 'widget.html');
    await fs.writeFile(page, `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>${html}</body></html>`);
    const blank = join(dir, 'blank.html');
    await fs.writeFile(blank, '<!DOCTYPE html><html><body></body></html>');
    const shots = { widget: join(dir, 'widget.png'), blank: join(dir, 'blank.png') };
    await chromium(dir, [`--screenshot=${shots.widget}`, '--window-size=1000,700', pathToFileURL(page).href]);
    await chromium(dir, [`--screenshot=${shots.blank}`, '--window-size=1000,700', pathToFileURL(blank).href]);
    const drawn = nonWhitePixels(await fs.readFile(shots.widget));
    assert.equal(nonWhitePixels(await fs.readFile(shots.blank)).nonWhite, 0);
    assert.ok(drawn.nonWhite > drawn.width * drawn.height * 0.01, `${drawn.nonWhite} non-white pixels`);

    const dom = await chromium(dir, ['--dump-dom', pathToFileURL(page).href]);
    assert.doesNotMatch(dom, /<script/i);
    const school = sectionOf(dom, 'school');
    assert.deepEqual(
      values(school, 'size'),
      manifests.school?.map((m) => String(m.size_bytes)),
    );
    assert.deepEqual(values(school, 'drill'), ['failed']);
    assert.deepEqual(
      values(sectionOf(dom, OTHER), 'size'),
      manifests[OTHER]?.map((m) => String(m.size_bytes)),
    );
  });

  test('verify now re-reads the backup and says it matches its manifest; the view is drawn below', async () => {
    const file = manifests.school?.[0]?.backup_file as string;
    const { html } = await invoke({ action: 'verify', database: 'school', file, widgetContext: { forms: { all: {} } } });
    assert.match(
      html,
      new RegExp(`<div data-result="ok"><strong>${file.replace(/\./g, '\\.')} verified: size, SHA-256 and content match`),
    );
    assert.ok(html.includes('data-database="school"'));
    assert.deepEqual(lambda.calls, []);
  });

  test('restore dry-run invokes the restore function with dryRun and the typed destination, never confirm, and shows its plan', async () => {
    lambda.calls.length = 0;
    const { html } = await invoke({
      action: 'restore-dry-run',
      database: 'school',
      field: 'destination-0',
      widgetContext: { forms: { all: { 'destination-0': 'sqlite:///mnt/data/scratch.db', 'destination-1': '' } } },
    });
    assert.deepEqual(lambda.calls, [
      {
        name: 'DbBackup-n1-1-restore',
        event: { database: 'school', latest: true, dryRun: true, to: 'sqlite:///mnt/data/scratch.db' },
      },
    ]);
    assert.match(html, /<div data-result="ok"><strong>Dry run of school: the backup checks out; nothing was changed\.<\/strong>/);
    assert.ok(html.includes('destination: sqlite:///mnt/data/scratch.db'));
  });

  test('health now invokes the health function and shows its verdict above the view', async () => {
    lambda.calls.length = 0;
    const { html } = await invoke({ action: 'health', widgetContext: { forms: { all: {} } } });
    assert.deepEqual(lambda.calls, [{ name: 'DbBackup-HealthCheck', event: {} }]);
    assert.match(html, /<div data-result="ok"><strong>Health check: healthy, 0 finding\(s\)\.<\/strong><\/div>/);
    assert.ok(html.includes('data-database="school"'));
  });

  test('an unknown action, a confirm slipped in, a password in the destination: one line each, nothing invoked', async () => {
    lambda.calls.length = 0;
    for (const [event, line] of [
      [{ action: 'restore', database: 'school', confirm: 'school' }, /^unknown action "restore": the widget knows/],
      [
        { action: 'restore-dry-run', database: 'school', field: 'destination-0', confirm: 'school' },
        /^refused restore-dry-run: "confirm" is not a field of this action; nothing was done$/,
      ],
      [
        { action: 'verify', database: 'school', file: '../../etc/passwd' },
        /^verify \.\.\/\.\.\/etc\/passwd: no completed backup named/,
      ],
      [
        {
          action: 'restore-dry-run',
          database: 'school',
          field: 'destination-0',
          widgetContext: { forms: { all: { 'destination-0': 'postgres://u:hunter2@h/db' } } },
        },
        /^the destination holds a password/,
      ],
    ] as const) {
      const { html, code } = await invoke(event);
      assert.equal(code, 0);
      const result = /<div data-result="failed"><strong>([^<]*)<\/strong><\/div>/.exec(html)?.[1];
      assert.ok(result, html.slice(0, 600));
      assert.match(unescapeHtml(result), line);
      assert.doesNotMatch(html, /hunter2/);
    }
    assert.deepEqual(lambda.calls, []);
  });

  test('describe: a short markdown about what the widget shows and does', async () => {
    const { html } = await invoke({ describe: true });
    assert.match(html, /^## dbbackup console/);
    assert.match(html, /never `confirm`/);
  });
});
