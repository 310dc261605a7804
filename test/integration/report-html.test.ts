import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { before, describe, test } from 'node:test';
import type { Report } from '../../shared/report/build-report.js';
import { chromium, databaseSection } from '../harness/chromium.js';
import { nonWhitePixels } from '../harness/png-pixels.js';
import { HOSTILE_DATABASE, HOSTILE_ERROR, writeHistory } from '../harness/report-history.js';
import { cli, tempDir } from '../harness/test-env.js';

/** The `data-value` of a `data-field` in the section of one database ('' for the overall one). */
function fieldIn(dom: string, database: string, field: string): string | undefined {
  const section = databaseSection(dom, database);
  return section ? new RegExp(`data-field="${field}" data-value="([^"]*)"`).exec(section)?.[1] : undefined;
}

describe('dbbackup report --html', () => {
  let dir = '';
  let html = '';
  let report: Report;
  before(async () => {
    dir = await tempDir('report-html');
    const target = join(dir, 'backups');
    await writeHistory(target);
    html = join(dir, 'report.html');
    const run = await cli(['report', '--target', target, '--days', '28', '--json', '--html', html]);
    assert.equal(run.code, 0, run.stderr);
    report = JSON.parse(run.stdout) as Report;
  });

  test('one self-contained file: no script, nothing loaded from elsewhere', async () => {
    const page = await fs.readFile(html, 'utf8');
    assert.doesNotMatch(page, /<script/i);
    assert.deepEqual(
      [...page.matchAll(/\b(?:src|href|xlink:href|action)\s*=\s*"([^"]*)"/gi)].map((m) => m[1]),
      [],
    );
    assert.doesNotMatch(page, /url\(|@import|<link|<iframe|<img/i);
    assert.deepEqual(
      (await fs.readdir(dir)).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  test('Chromium draws it: the screenshot is far from blank, and has more drawn than a blank page', async () => {
    const blank = join(dir, 'blank.html');
    await fs.writeFile(blank, '<!DOCTYPE html><html><body></body></html>');
    const shots = { report: join(dir, 'report.png'), blank: join(dir, 'blank.png') };
    await chromium(dir, [`--screenshot=${shots.report}`, '--window-size=1200,1600', pathToFileURL(html).href]);
    await chromium(dir, [`--screenshot=${shots.blank}`, '--window-size=1200,1600', pathToFileURL(blank).href]);
    const drawn = nonWhitePixels(await fs.readFile(shots.report));
    const empty = nonWhitePixels(await fs.readFile(shots.blank));
    assert.equal(drawn.width, 1200);
    assert.equal(empty.nonWhite, 0);
    // Text, tables and two charts per database: well over 1% of the page.
    assert.ok(drawn.nonWhite > drawn.width * drawn.height * 0.01, `${drawn.nonWhite} non-white pixels`);
  });

  test("the numbers in Chromium's DOM are the JSON report's, and the charts have a point per backup and per run", async () => {
    const dom = await chromium(dir, ['--dump-dom', pathToFileURL(html).href]);
    assert.equal(fieldIn(dom, '', 'runs'), String(report.overall.runs));
    assert.equal(fieldIn(dom, '', 'failures'), String(report.overall.failures));
    assert.equal(fieldIn(dom, '', 'usdPerMonth'), String(report.overall.stored.usdPerMonth));
    for (const db of report.databases) {
      assert.equal(fieldIn(dom, db.database, 'runs'), String(db.runs), db.database);
      assert.equal(fieldIn(dom, db.database, 'successRate'), String(db.successRate), db.database);
      assert.equal(fieldIn(dom, db.database, 'durationAverage'), String(db.durationMs?.average ?? null), db.database);
      assert.equal(fieldIn(dom, db.database, 'storedBytes'), String(db.stored.bytes), db.database);
      assert.equal(fieldIn(dom, db.database, 'compressionRatio'), String(db.stored.compressionRatio), db.database);
      const section = dom.slice(dom.indexOf(`data-database="${db.database.replace(/</g, '&lt;').replace(/>/g, '&gt;')}"`));
      assert.match(section, new RegExp(`data-chart="size" data-points="${db.series.backups.length}"`), db.database);
      assert.match(section, new RegExp(`data-chart="duration" data-points="${db.series.runs.length}"`), db.database);
    }
    const codes = [...dom.matchAll(/<li data-code="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(
      codes,
      report.recommendations.map((r) => r.code),
    );
  });

  test('a database name and an error holding <script> are shown as text, never run', async () => {
    const dom = await chromium(dir, ['--dump-dom', pathToFileURL(html).href]);
    assert.doesNotMatch(dom, /<script/i);
    assert.ok(dom.includes(HOSTILE_DATABASE.replace(/</g, '&lt;').replace(/>/g, '&gt;')), 'the database name, escaped');
    assert.ok(dom.includes(HOSTILE_ERROR.replace(/</g, '&lt;').replace(/>/g, '&gt;')), 'the error, escaped');
  });
});
