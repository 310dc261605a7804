import type { Command } from 'commander';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { formatAge, formatBytes } from '../format-units.js';
import { renderTable } from '../render-table.js';
import { action } from '../action.js';
import { writeJson, writeLines } from '../printable.js';
import { openTargetFromFlags, type TargetFlags, targetOptions } from '../target-flags.js';

/** `dbbackup list`: completed backups, newest first. */
export function registerList(program: Command): void {
  targetOptions(
    program
      .command('list')
      .description('list completed backups (those with a manifest), newest first')
      .option('-d, --database <name>', 'only this database')
      .option('--json', 'print an array of manifests on stdout'),
  ).action(
    action('list', async (flags: TargetFlags & { database?: string; json?: boolean }) => {
      const target = await openTargetFromFlags(flags);
      const { backups, problems } = await listBackups(target, { database: flags.database });
      for (const p of problems) writeLines(process.stderr, `warning: unreadable manifest ${p.key}: ${p.error}`);
      if (flags.json) {
        writeJson(
          process.stdout,
          backups.map((b) => b.manifest),
        );
        return 0;
      }
      if (backups.length === 0) {
        writeLines(process.stderr, `no backups in ${target.url}${flags.database ? ` for database ${flags.database}` : ''}`);
        return 0;
      }
      const now = Date.now();
      const rows = backups.map(({ manifest: m }) => [
        m.backup_file,
        m.database,
        m.engine,
        m.datetime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
        formatAge(Math.round((now - Date.parse(m.datetime)) / 1000)),
        formatBytes(m.size_bytes),
        m.storage_class ?? '-',
        m.kind,
      ]);
      writeLines(
        process.stdout,
        ...renderTable(['FILE', 'DATABASE', 'ENGINE', 'TAKEN (UTC)', 'AGE', 'SIZE', 'CLASS', 'KIND'], rows),
      );
      return 0;
    }),
  );
}
