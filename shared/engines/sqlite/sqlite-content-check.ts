import { createWriteStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { IntegrityError } from '../../errors.js';
import type { Manifest } from '../../manifest.js';
import { compareRowCounts } from '../compare-row-counts.js';
import type { ContentCheck } from '../engine.js';
import { inspectSqliteFile } from './sqlite-file.js';
import { makeRunTempDir } from '../../pipeline/run-temp-dir.js';
import type { Settings } from '../../settings.js';

/**
 * Checks a SQLite backup as verify reads it: written to a temp file (SQLite cannot read a
 * stream), then integrity_check passes and each table has the manifest's row count.
 */
export async function checkSqliteArchive(manifest: Manifest, settings: Settings): Promise<ContentCheck> {
  const dir = await makeRunTempDir(settings.tmpDir, 'verify');
  const file = join(dir, 'restored.db');
  return {
    sink: createWriteStream(file),
    finish: async () => checkSqliteFile(file, manifest),
    cleanup: () => fs.rm(dir, { recursive: true, force: true }),
  };
}

function checkSqliteFile(file: string, manifest: Manifest): void {
  let report: ReturnType<typeof inspectSqliteFile>;
  try {
    report = inspectSqliteFile(file);
  } catch (error) {
    throw new IntegrityError(`the backup is not a readable SQLite database: ${(error as Error).message}`);
  }
  if (report.verdict !== 'ok') throw new IntegrityError(`SQLite integrity_check failed: ${report.verdict.slice(0, 300)}`);
  const failed = compareRowCounts(manifest.tables, new Set(), report.tables).find((c) => !c.ok);
  if (failed) throw new IntegrityError(failed.detail);
}
