import { Writable } from 'node:stream';
import { ConfigError, IntegrityError } from '../../errors.js';
import type { Manifest } from '../../manifest.js';
import { spawnDuplex, summarizeStderr } from '../../pipeline/child-process-stream.js';
import type { ContentCheck } from '../engine.js';
import { choosePgRestore, findPgTools } from './find-pg-tools.js';
import type { Settings } from '../../settings.js';
import { PlainScriptCheck } from './plain-script-check.js';

/**
 * Checks a PostgreSQL archive as verify reads it: a custom archive is read whole by
 * `pg_restore -f /dev/null` (unlike `pg_restore -l`, that parses every data block, so it fails
 * on a truncated or bit-flipped archive); a plain script must be pg_dump's output, whole, and nothing else
 * (`PlainScriptCheck`).
 */
export async function checkPostgresArchive(manifest: Manifest, settings: Settings): Promise<ContentCheck> {
  const none = async () => {};
  if (manifest.format === 'plain') {
    // The same check a restore makes before psql starts: verify passes only what restore would run.
    const script = new PlainScriptCheck();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        try {
          script.push(chunk.toString('latin1'));
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
    });
    return { sink, finish: async () => script.end(), cleanup: none };
  }
  const tools = await findPgTools('pg_restore', settings);
  if (tools.length === 0) {
    throw new ConfigError('verifying a custom-format backup needs pg_restore, which was not found', {
      hint: 'install the PostgreSQL client (Debian: apt-get install postgresql-client) or set DBBACKUP_PG_BIN_DIR',
    });
  }
  const pgRestore = choosePgRestore(tools, manifest.engine_version.pg_dump);
  const restore = spawnDuplex(pgRestore.path, ['-f', '/dev/null'], {
    env: settings.env,
    describeFailure: ({ exit, spawnError }) =>
      spawnError
        ? new ConfigError(`pg_restore could not be started: ${spawnError.message}`)
        : new IntegrityError(
            `pg_restore cannot read the archive (it says: ${summarizeStderr(exit?.stderrTail ?? '') || `exit ${exit?.code}`})`,
          ),
  });
  restore.resume();
  return { sink: restore, finish: none, cleanup: none };
}
