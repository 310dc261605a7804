import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { readReport } from '../../shared/report/read-report.js';
import { openTarget } from '../../shared/targets/open-target.js';
import { HOSTILE_DATABASE, HOSTILE_ERROR, writeHistory } from '../harness/report-history.js';
import { sentEmails } from '../harness/ses-server.js';
import { createBucket, repoRoot, runAllowingFailure } from '../harness/test-env.js';

/** Runs the compiled report handler in a child process, as the Lambda runtime would. */
async function invokeReport(env: NodeJS.ProcessEnv) {
  const result = await runAllowingFailure(
    process.execPath,
    [join(repoRoot, 'dist/test/harness/invoke-handler.js'), join(repoRoot, 'dist/functions/report.js'), '{}'],
    { env },
  );
  const last = result.stdout.trim().split('\n').at(-1) ?? '';
  return { ...result, kind: last.slice(0, last.indexOf(' ')), value: JSON.parse(last.slice(last.indexOf(' ') + 1) || 'null') };
}

const escaped = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

describe('the weekly report function', () => {
  let bucket = '';
  const recipient = `ops-${randomBytes(4).toString('hex')}@example.com`;
  before(async () => {
    bucket = await createBucket('report');
    await writeHistory(`s3://${bucket}`);
  });

  test("emails the last 7 days' report of the deployment's bucket to the alert recipients: text part, and an HTML part of tables and bars", async () => {
    const result = await invokeReport({
      ...process.env,
      DBBACKUP_BUCKET: bucket,
      AWS_REGION: 'us-east-1',
      DBBACKUP_CONFIG: JSON.stringify({ alerts: { sender: 'backups@example.com', recipients: [recipient] } }),
    });
    assert.equal(result.kind, 'RESULT', result.stdout + result.stderr);
    assert.deepEqual(result.value, { sent: true });

    const expected = await readReport(await openTarget(`s3://${bucket}`, { checksums: 'when_required' }), { days: 7 });
    const mails = (await sentEmails()).filter((m) => m.destination.to.includes(recipient));
    assert.equal(mails.length, 1, JSON.stringify(mails.map((m) => m.subject)));
    const [mail] = mails as [(typeof mails)[number]];
    assert.equal(mail.from, 'backups@example.com');
    assert.equal(
      mail.subject,
      `[dbbackup] Weekly report: 3 databases, ${expected.overall.runs} runs, ${expected.overall.failures} failed, ${expected.recommendations.length} recommendations`,
    );

    const text = mail.body.text ?? '';
    assert.match(text, /^dbbackup report: 7 days/);
    assert.match(text, /^Database app\.db \(sqlite\)$/m);
    assert.match(text, /^Recommendations$/m);

    const html = mail.body.html ?? '';
    // What Gmail and Outlook show: no SVG, no script, no stylesheet; bars are table cells.
    assert.doesNotMatch(html, /<svg|<script|<style|<link|<img/i);
    assert.match(html, /<td width="\d+" height="12" bgcolor="#/);
    for (const db of expected.databases) {
      const row = new RegExp(
        `<tr data-database="${escaped(db.database).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}">([\\s\\S]*?)</tr>`,
      ).exec(html)?.[1];
      assert.ok(row, `a row for ${db.database}`);
      assert.match(row, new RegExp(`data-field="runs">${db.runs}<`));
      assert.match(row, new RegExp(`data-field="failures">${db.failures}<`));
    }
    assert.ok(html.includes(escaped(HOSTILE_DATABASE)), 'the database name, escaped');
    assert.ok(html.includes(escaped(HOSTILE_ERROR)), 'the error, escaped');
    assert.deepEqual(
      [...html.matchAll(/<li data-code="([^"]+)"/g)].map((m) => m[1]),
      expected.recommendations.map((r) => r.code),
    );
  });
});
