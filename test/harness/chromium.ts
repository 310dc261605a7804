import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { runAllowingFailure } from './test-env.js';

/** Runs Debian's headless Chromium (the real browser) on a page, with a profile of its own under `dir`. */
export async function chromium(dir: string, args: string[]): Promise<string> {
  const profile = await fs.mkdtemp(join(dir, 'profile-'));
  const result = await runAllowingFailure('timeout', [
    '60',
    'chromium',
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    `--user-data-dir=${profile}`,
    ...args,
  ]);
  assert.equal(result.code, 0, `chromium failed: ${result.stderr}`);
  return result.stdout;
}

/** Undoes the five escapes the pages use, to compare what a reader sees with the data. */
export function unescapeHtml(text: string): string {
  return text.replace(
    /&(lt|gt|quot|#39|amp);/g,
    (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e] as string,
  );
}

/** The inside of the `<section data-database="…">` of one database ('' for one about no database). */
export function databaseSection(html: string, database: string): string | undefined {
  const sections = [...html.matchAll(/<section[^>]*data-database="([^"]*)"[^>]*>([\s\S]*?)<\/section>/g)];
  return sections.find((s) => unescapeHtml(s[1] as string) === database)?.[2];
}
