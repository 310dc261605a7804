import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { databaseFileUrl } from '../../shared/engines/registry.js';
import { MANIFEST_SUFFIX } from '../../shared/manifest.js';
import { action } from '../action.js';
import { writeLines } from '../printable.js';
import { backupWithProgress, summaryLine } from './backup.js';

/** The Chinook sample database shipped with the repository (MIT, see its LICENSE.md). */
const SAMPLE = join(dirname(fileURLToPath(import.meta.url)), '../../../samples/chinook/Chinook_Sqlite.sqlite');

/** `dbbackup demo` (what `npm start` runs): backs up the bundled sample database into ./backups. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('back up the bundled Chinook SQLite sample into ./backups, then show what to do next')
    .option('-t, --target <dir>', 'where to store the sample backup', 'backups')
    .action(
      action('demo', async (flags: { target: string }) => {
        const manifest = await backupWithProgress({
          source: databaseFileUrl('sqlite', SAMPLE),
          target: flags.target,
          name: 'chinook',
          compression: 'gzip',
        });
        const shown = relative(process.cwd(), manifest.location) || manifest.location;
        const target = flags.target;
        writeLines(
          process.stdout,
          summaryLine(manifest),
          '',
          `  backup:   ${shown}`,
          `  manifest: ${shown}${MANIFEST_SUFFIX}`,
          `  sha256:   ${manifest.hash}`,
          `  tables:   ${Object.keys(manifest.tables).length}, rows: ${Object.values(manifest.tables).reduce((a, b) => a + b, 0)}`,
          '',
          'Next:',
          `  npx dbbackup list   --target ${target}                     # the backups, newest first`,
          `  npx dbbackup verify --target ${target} --latest            # re-read and check hash and content`,
          `  npx dbbackup info   --target ${target}                     # per database: count, size, age`,
          `  npx dbbackup restore --target ${target} --latest --to ./chinook-restored.db --confirm chinook-restored.db`,
          `  npx dbbackup backup --source postgres://user@host/db --target s3://bucket/prefix   # see README`,
        );
        return 0;
      }),
    );
}
