import { createWriteStream, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compareRowCounts } from './compare-row-counts.js';
import { createDecompressor, isCorruptData } from '../compression/compression.js';
import { choosePgTool, findPgTools } from '../engines/postgres/find-pg-tools.js';
import { ConfigError, IntegrityError } from '../errors.js';
import type { ListedBackup } from '../catalog/list-backups.js';
import type { Manifest } from '../manifest.js';
import { spawnDuplex } from '../pipeline/child-process-stream.js';
import { Meter } from '../pipeline/meter.js';
import type { Target } from '../targets/target.js';

/** The outcome of re-reading one backup. */
export interface VerifyResult {
  readonly key: string;
  readonly backupFile: string;
  readonly ok: boolean;
  /** size: stored bytes = manifest; sha256: hash = manifest; content: the archive reads to the end. */
  readonly checks: { readonly size: boolean; readonly sha256: boolean | null; readonly content: boolean | null };
  /** Why it failed, when it did. */
  readonly problem?: string;
  readonly durationMs: number;
}

/** Plain-format dumps end with this line; its absence means the dump was cut short. */
const PLAIN_DUMP_TRAILER = '-- PostgreSQL database dump complete';

/**
 * Re-reads a stored backup and checks it against its manifest: size, SHA-256 of the stored
 * bytes, and that the content is a readable archive (fully decompressed; custom format read
 * through `pg_restore -f /dev/null`; SQLite checked with integrity_check and row counts).
 * Integrity failures are returned (ok: false); anything else (network, missing pg_restore) throws.
 */
export async function verifyBackup(
  target: Target,
  backup: ListedBackup,
  env: NodeJS.ProcessEnv = process.env,
): Promise<VerifyResult> {
  const started = Date.now();
  const { manifest, key } = backup;
  const result = (checks: VerifyResult['checks'], problem?: string): VerifyResult => ({
    key,
    backupFile: manifest.backup_file,
    ok: problem === undefined,
    checks,
    problem,
    durationMs: Date.now() - started,
  });

  const stat = await target.stat(key);
  if (!stat) return result({ size: false, sha256: null, content: null }, `${target.locate(key)} is missing`);
  if (stat.size !== manifest.size_bytes) {
    return result(
      { size: false, sha256: null, content: null },
      `${target.locate(key)} holds ${stat.size} bytes, the manifest says ${manifest.size_bytes} (truncated or replaced)`,
    );
  }

  const meter = new Meter({ sha256: true });
  const content = await contentChecker(manifest, env);
  let contentProblem: string | undefined;
  try {
    await pipeline(await target.get(key), meter, createDecompressor(manifest.compression), content.sink);
    await content.finish();
  } catch (error) {
    // Only corruption is a verdict on the backup; a dropped connection or a full disk is not.
    if (!isCorruptData(error)) throw error;
    contentProblem =
      error instanceof IntegrityError ? error.message : `the backup cannot be decompressed: ${(error as Error).message}`;
  } finally {
    await content.cleanup();
  }
  const hashed = meter.writableFinished;
  const hashOk = hashed ? meter.sha256() === manifest.hash : null;
  if (hashOk === false) {
    return result(
      { size: true, sha256: false, content: contentProblem === undefined },
      `SHA-256 of ${target.locate(key)} is ${meter.sha256()}, the manifest says ${manifest.hash}`,
    );
  }
  if (contentProblem) return result({ size: true, sha256: hashOk, content: false }, contentProblem);
  return result({ size: true, sha256: true, content: true });
}

interface ContentChecker {
  readonly sink: Writable;
  finish(): Promise<void>;
  cleanup(): Promise<void>;
}

async function contentChecker(manifest: Manifest, env: NodeJS.ProcessEnv): Promise<ContentChecker> {
  const none = async () => {};
  switch (manifest.format) {
    case 'custom': {
      const tools = await findPgTools('pg_restore', env);
      if (tools.length === 0) {
        throw new ConfigError('verifying a custom-format backup needs pg_restore, which was not found', {
          hint: 'install the PostgreSQL client (Debian: apt-get install postgresql-client) or set DBBACKUP_PG_BIN_DIR',
        });
      }
      const dumpedBy = Number(/\(PostgreSQL\)\s+(\d+)/.exec(manifest.engine_version.pg_dump ?? '')?.[1] ?? 0);
      const pgRestore = choosePgTool(tools, dumpedBy, manifest.engine_version.pg_dump ?? 'unknown', 'pg_restore');
      // Reading the whole archive to /dev/null makes pg_restore parse every data block: unlike
      // `pg_restore -l`, it fails on a truncated or bit-flipped archive.
      const restore = spawnDuplex(pgRestore.path, ['-f', '/dev/null'], {
        env,
        describeFailure: ({ exit, spawnError }) =>
          spawnError
            ? new ConfigError(`pg_restore could not be started: ${spawnError.message}`)
            : new IntegrityError(
                `pg_restore cannot read the archive: ${exit?.stderrTail.split('\n')[0] || `exit ${exit?.code}`}`,
              ),
      });
      restore.resume();
      return { sink: restore, finish: none, cleanup: none };
    }
    case 'plain': {
      let tail = '';
      const sink = new Writable({
        write(chunk: Buffer, _encoding, callback) {
          tail = (tail + chunk.toString('latin1')).slice(-512);
          callback();
        },
      });
      const finish = async () => {
        if (!tail.includes(PLAIN_DUMP_TRAILER))
          throw new IntegrityError('the SQL dump is incomplete (its closing line is missing)');
      };
      return { sink, finish, cleanup: none };
    }
    case 'sqlite': {
      const dir = await fs.mkdtemp(join(env.DBBACKUP_TMPDIR ?? tmpdir(), 'dbbackup-verify-'));
      const file = join(dir, 'restored.db');
      return {
        sink: createWriteStream(file),
        finish: () => checkSqliteFile(file, manifest),
        cleanup: () => fs.rm(dir, { recursive: true, force: true }),
      };
    }
  }
}

/** Checks a decompressed SQLite backup: integrity_check passes and each table has the manifest's row count. */
export async function checkSqliteFile(file: string, manifest: Manifest): Promise<void> {
  const { inspectSqliteFile } = await import('../engines/sqlite/sqlite-file.js');
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
