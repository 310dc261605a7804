import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { consoleActionSchema, refusedAction } from '../../shared/console/console-action.js';
import type { ConsoleView } from '../../shared/console/gather-console-view.js';
import { renderConsole } from '../../shared/console/render-console.js';
import {
  type ConsoleActionDeps,
  type ConsoleConfig,
  parseConsoleConfig,
  restoreDryRunEvent,
  runConsoleAction,
  type WidgetInvocation,
} from '../../shared/deployment/run-console-widget.js';
import type { Target } from '../../shared/targets/target.js';
import { defaultSettings } from '../../shared/settings.js';

const HOSTILE = `<script>alert("db")</script> & 'quoted'`;
const HOSTILE_ERROR = `pg_restore: <img src=x onerror=alert(1)> "failed" & more`;
const ENDPOINT = 'arn:aws:lambda:eu-west-1:123456789012:function:DbBackup-ConsoleFunction';

const view: ConsoleView = {
  at: '2026-11-22T12:00:00.000Z',
  findings: [`the manifest ${HOSTILE}.json is unreadable`],
  databases: [
    {
      name: HOSTILE,
      status: 'broken',
      findings: [`${HOSTILE} has no good weekly backup`],
      backups: [
        {
          file: `backup_${HOSTILE}.db.gz`,
          datetime: '2026-11-22T11:00:00.000Z',
          ageSeconds: 3600,
          sizeBytes: 1234567,
          tier: 'daily',
        },
      ],
      lastDrill: {
        startedAt: '2026-11-15T05:00:00.000Z',
        ageSeconds: 7 * 86400,
        result: 'failed',
        error: HOSTILE_ERROR,
        durationMs: 4200,
        backupKey: null,
      },
    },
  ],
};

const unescape = (text: string) =>
  text.replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e] as string);

/** Each button's parameters, as the dashboard reads them from its `<cwdb-action>` (the element's text). */
function buttons(html: string): Array<{ params: Record<string, unknown>; confirmation?: string }> {
  return [...html.matchAll(/<cwdb-action([^>]*)>([^<]*)<\/cwdb-action>/g)].map((m) => {
    const confirmation = /confirmation="([^"]*)"/.exec(m[1] as string)?.[1];
    return { params: JSON.parse(unescape(m[2] as string)) as Record<string, unknown>, confirmation };
  });
}

const config: ConsoleConfig = parseConsoleConfig({
  alerts: { sender: 'backups@example.com', recipients: ['ops@example.com'] },
  databases: [{ name: 'school', schedules: {}, engine: 'postgres', restoreFunction: 'DbBackup-n1-1-restore' }],
  healthFunction: 'DbBackup-HealthCheck',
});

function deps(answer: WidgetInvocation, forms: Record<string, unknown> = {}) {
  const calls: Array<{ name: string; event: unknown }> = [];
  const value: ConsoleActionDeps = {
    config,
    target: {} as Target,
    settings: defaultSettings(),
    forms,
    invoke: async (name, event) => {
      calls.push({ name, event });
      return answer;
    },
  };
  return { calls, deps: value };
}

describe('the console widget’s HTML', () => {
  test('database names, findings, file names and a drill’s error holding markup are shown as text, never as tags', () => {
    const html = renderConsole(view, { endpoint: ENDPOINT, result: { ok: false, lines: [HOSTILE_ERROR] } });
    assert.doesNotMatch(html, /<script|<img/i);
    const escaped = (text: string) =>
      text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
    assert.ok(html.includes(`data-database="${escaped(HOSTILE)}"`));
    assert.ok(html.includes(escaped(HOSTILE_ERROR)));
    assert.ok(html.includes(`<li>${escaped(`${HOSTILE} has no good weekly backup`)}</li>`));
    // Sizes and ages travel as numbers beside their text.
    assert.match(html, /data-field="size" data-value="1234567">1\.23 MB</);
    assert.match(html, /data-field="age" data-value="3600">1 h</);
    assert.match(html, /data-field="drill" data-value="failed"/);
  });

  test('every button calls the widget’s own function and shows its result in the widget; its parameters survive a hostile name', () => {
    const html = renderConsole(view, { endpoint: ENDPOINT });
    for (const m of html.matchAll(/<cwdb-action([^>]*)>/g)) {
      assert.match(m[1] as string, /action="call"/);
      assert.ok((m[1] as string).includes(`endpoint="${ENDPOINT}"`));
      assert.match(m[1] as string, /display="widget"/);
    }
    // Their text holds no markup nor entity: the same JSON whether read as text or as HTML.
    for (const m of html.matchAll(/<cwdb-action[^>]*>([^<]*)<\/cwdb-action>/g)) assert.doesNotMatch(m[1] as string, /[&<>]/);
    const found = buttons(html);
    assert.deepEqual(
      found.map((b) => b.params),
      [
        { action: 'health' },
        { action: 'verify', database: HOSTILE, file: `backup_${HOSTILE}.db.gz` },
        { action: 'restore-dry-run', database: HOSTILE, field: 'destination-0' },
      ],
    );
    // Each parses as the handler will parse it: the buttons never ask for something it refuses.
    for (const b of found) assert.equal(consoleActionSchema.safeParse(b.params).success, true, JSON.stringify(b.params));
    // Those that start a function ask first, as the restore and health functions are asked by hand.
    assert.ok(found[0]?.confirmation);
    assert.ok(found[2]?.confirmation);
    assert.ok(html.includes('<input name="destination-0"'));
  });
});

describe('the console widget’s actions', () => {
  test('a restore dry run sends dryRun and never confirm, with the destination typed into the database’s field', async () => {
    assert.deepEqual(restoreDryRunEvent('school', undefined), { database: 'school', latest: true, dryRun: true });
    const { calls, deps: d } = deps(
      { failed: true, payload: { errorMessage: 'restore would replace "scratch"; refusing without confirmation' } },
      { 'destination-0': '  postgres://restorer@db.internal:5432/scratch  ' },
    );
    const result = await runConsoleAction({ action: 'restore-dry-run', database: 'school', field: 'destination-0' }, d);
    assert.deepEqual(calls, [
      {
        name: 'DbBackup-n1-1-restore',
        event: { database: 'school', latest: true, dryRun: true, to: 'postgres://restorer@db.internal:5432/scratch' },
      },
    ]);
    assert.ok(!JSON.stringify(calls).includes('confirm'));
    assert.equal(result.ok, false);
    assert.match(result.lines[0] ?? '', /^Dry run of school refused: restore would replace "scratch"/);
  });

  test('a button’s request with a confirm, or any field no button sends, is refused in one line and nothing is invoked', () => {
    for (const params of [
      { action: 'restore-dry-run', database: 'school', field: 'destination-0', confirm: 'school' },
      { action: 'restore-dry-run', database: 'school', field: 'destination-0', dryRun: false },
      { action: 'health', to: 'x' },
    ]) {
      const parsed = consoleActionSchema.safeParse(params);
      assert.ok(!parsed.success, JSON.stringify(params));
      const line = refusedAction(params, parsed.error);
      assert.match(
        line,
        /^refused (restore-dry-run|health): "(confirm|dryRun|to)" is not a field of this action; nothing was done$/,
      );
      assert.doesNotMatch(line, /\n/);
    }
  });

  test('an unknown action or a malformed request is one line naming what the widget knows', () => {
    for (const params of [{ action: 'drop-database', database: 'school' }, { database: 'school' }, { action: 42 }]) {
      const parsed = consoleActionSchema.safeParse(params);
      assert.ok(!parsed.success);
      assert.match(
        refusedAction(params, parsed.error),
        /^unknown action .*: the widget knows verify, health and restore-dry-run; nothing was done$/,
      );
    }
    const field = consoleActionSchema.safeParse({ action: 'restore-dry-run', database: 'school', field: 'to' });
    assert.equal(field.success, false);
  });

  test('a destination holding a password, a database not in the deployment: refused, nothing invoked', async () => {
    for (const [database, destination, expected] of [
      ['school', 'postgres://restorer:hunter2@db.internal/scratch', /^the destination holds a password/],
      ['school', 'postgres://db.internal/scratch?password=hunter2', /^the destination holds a password/],
      ['school', 'postgres://db/x\nforged', /^the destination holds a control character/],
      ['nobody', '', /^no database named "nobody" in this deployment; nothing was done$/],
    ] as const) {
      const { calls, deps: d } = deps({ failed: false, payload: {} }, { 'destination-0': destination });
      const result = await runConsoleAction({ action: 'restore-dry-run', database, field: 'destination-0' }, d);
      assert.equal(result.ok, false);
      assert.match(result.lines[0] ?? '', expected);
      assert.ok(!(result.lines[0] ?? '').includes('hunter2'), 'the password is not repeated');
      assert.deepEqual(calls, []);
    }
  });

  test('health now: the check’s verdict when it answers in time, "still running" when it does not', async () => {
    const answered = deps({ failed: false, payload: { status: 'broken', findings: 2 } });
    const verdict = await runConsoleAction({ action: 'health' }, answered.deps);
    assert.deepEqual(answered.calls, [{ name: 'DbBackup-HealthCheck', event: {} }]);
    assert.equal(verdict.ok, false);
    assert.equal(verdict.lines[0], 'Health check: broken, 2 finding(s); the alert email lists them.');
    const slow = await runConsoleAction({ action: 'health' }, deps({ timedOut: true }).deps);
    assert.equal(slow.ok, null);
    assert.match(slow.lines[0] ?? '', /started and is still running/);
  });
});
