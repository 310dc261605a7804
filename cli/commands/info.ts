import type { Command } from 'commander';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { type DatabaseSummary, summarizeTarget } from '../../shared/catalog/summarize-backups.js';
import { formatAge, formatBytes } from '../format-units.js';
import { renderTable } from '../render-table.js';
import { action } from '../action.js';
import { writeJson, writeLines } from '../printable.js';
import { openTargetFromFlags, type TargetFlags, targetOptions } from '../target-flags.js';

/** `dbbackup info`: per database, how many backups, how big, and how old the newest is. */
export function registerInfo(program: Command): void {
  targetOptions(
    program
      .command('info')
      .description('per database: number of backups, total size, newest and oldest, age of the newest; pre-restore copies apart')
      .option('--json', 'print the summary as JSON on stdout'),
  ).action(
    action('info', async (flags: TargetFlags & { json?: boolean }) => {
      const target = await openTargetFromFlags(flags);
      // "Newest" and its age are judged by this clock: a backup dated ahead of it is named below, not shown as 0 s old.
      const now = new Date();
      const { backups, problems } = await listBackups(target, { now });
      const { databases, preRestoreCopies } = summarizeTarget(backups, now);
      if (flags.json) {
        const unreadableManifests = problems.map(({ key, backupFile, error }) => ({ key, backupFile, error }));
        writeJson(process.stdout, { target: target.url, databases, preRestoreCopies, unreadableManifests });
        return 0;
      }
      // Shown with the summary, not only as warnings: a backup whose manifest is unreadable is in no count above.
      const unreadable = problems.map(
        (p) => `${p.futureDated ? 'unbelievable' : 'unreadable'} manifest ${p.key}: ${p.error} (its backup is not counted)`,
      );
      const blocks: string[][] = [];
      if (databases.length > 0) blocks.push(table('BACKUPS', databases));
      else writeLines(process.stderr, `no backups in ${target.url}`);
      if (preRestoreCopies.length > 0) {
        blocks.push([
          'pre-restore copies (what restores replaced, kept to undo them; not counted as backups):',
          ...table('COPIES', preRestoreCopies),
        ]);
      }
      if (unreadable.length > 0) blocks.push(unreadable);
      if (blocks.length > 0) writeLines(process.stdout, ...blocks.flatMap((lines, i) => (i > 0 ? ['', ...lines] : lines)));
      return 0;
    }),
  );
}

function table(counted: string, summary: readonly DatabaseSummary[]): string[] {
  const rows = summary.map((s) => [
    s.database,
    s.engine,
    String(s.count),
    formatBytes(s.totalBytes),
    s.newest.replace(/\.\d+Z$/, 'Z'),
    s.oldest.replace(/\.\d+Z$/, 'Z'),
    formatAge(s.newestAgeSeconds),
  ]);
  return renderTable(['DATABASE', 'ENGINE', counted, 'TOTAL', 'NEWEST', 'OLDEST', 'NEWEST AGE'], rows);
}
