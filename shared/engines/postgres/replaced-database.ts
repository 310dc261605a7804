import type pg from 'pg';
import { quoteIdent } from './postgres-client.js';
import { RestoreError } from '../../errors.js';
import type { ReplacedContent, RestoreOptions } from '../destination.js';
import { pausePoint } from '../../pipeline/pause-point.js';
import type { Settings } from '../../settings.js';

/** `__replaced_20261122051749`, and room for `_99` should that second be taken already. */
const STAMP = /^\d{14}$/;
export const REPLACED_SUFFIX_BYTES = '__replaced_'.length + 14 + '_99'.length;

/** `20261122051749`: UTC, to the second, so that names sort by when the restore ran. */
function stamp(at: Date): string {
  const s = at.toISOString().replace(/\D/g, '').slice(0, 14);
  if (!STAMP.test(s)) throw new Error(`unexpected time ${at.toISOString()}`);
  return s;
}

/**
 * The name the replaced database is kept under, `<base>__replaced_<UTC time>` (`_2`, `_3`… should
 * that name be taken), `base` being the destination's name cut to leave {@link REPLACED_SUFFIX_BYTES}
 * of 63. Deliberately not a `__dbbackup_` name: those are temporaries a later restore drops, and
 * this one is the user's until they drop it.
 */
export async function freeReplacedName(admin: pg.Client, base: string, at: Date): Promise<string> {
  const first = `${base}__replaced_${stamp(at)}`;
  const { rows } = await admin.query<{ datname: string }>('select datname from pg_database where left(datname, $2) = $1', [
    first,
    [...first].length,
  ]);
  const taken = new Set(rows.map((r) => r.datname));
  for (let n = 1; n < 100; n++) {
    const name = n === 1 ? first : `${first}_${n}`;
    if (!taken.has(name)) return name;
  }
  throw new RestoreError(`too many databases named ${first}…: drop the replaced databases you no longer need`, {
    hint: 'the destination was not changed',
  });
}

/**
 * Swaps `fresh` in as `name`, keeping the database it replaces as `replaced` (when there is one),
 * in one transaction: the sessions on either are ended (a transaction still open in one was never
 * acknowledged, and is rolled back), then both renames. A session that connects again before the
 * first rename makes that rename fail, and with it the whole swap: the destination is then as it was.
 */
export async function swapIn(
  admin: pg.Client,
  names: { name: string; fresh: string; replaced: string | undefined },
  settings: Settings,
): Promise<void> {
  const { name, fresh, replaced } = names;
  await admin.query('begin');
  await admin.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where datname = any($1) and pid <> pg_backend_pid()',
    [[name, fresh]],
  );
  try {
    await pausePoint('rename', settings);
    if (replaced !== undefined) await admin.query(`alter database ${quoteIdent(name)} rename to ${quoteIdent(replaced)}`);
    await admin.query(`alter database ${quoteIdent(fresh)} rename to ${quoteIdent(name)}`);
  } catch (error) {
    // 55006 object_in_use: a session connected after the others were ended (an application reconnecting at once).
    if ((error as { code?: string }).code === '55006') {
      throw new RestoreError(
        `a session connected to "${name}" again while the restore was swapping it out, so it was not replaced: ${(error as Error).message}`,
        {
          hint: 'the destination was not changed; stop the application (or its reconnecting) for the moment of the swap and restore again',
          cause: error,
        },
      );
    }
    throw error;
  }
  await admin.query('commit');
}

/** The kept replaced database, with how to undo and how to drop it, in SQL. */
export function replacedDatabase(name: string, replaced: string): ReplacedContent {
  return {
    name: replaced,
    description: `the database "${name}" as the restore replaced it, with every write made to it until the swap`,
    undo:
      `with no session on either: ALTER DATABASE ${quoteIdent(name)} RENAME TO ${quoteIdent(replaced.replace('__replaced_', '__restored_'))}; ` +
      `ALTER DATABASE ${quoteIdent(replaced)} RENAME TO ${quoteIdent(name)}`,
    drop: `DROP DATABASE ${quoteIdent(replaced)}`,
  };
}

/** What a restore asked to drop the replaced database says: which writes are in no copy now. */
export function droppedReplacedWarning(name: string, options: Pick<RestoreOptions, 'undoCopy' | 'undoCopyTakenAt'>): string {
  if (options.undoCopy === undefined) {
    return `the replaced database "${name}" was dropped as asked, and no safety backup was taken: its content is in no copy`;
  }
  return (
    `the replaced database "${name}" was dropped as asked: writes made to it after the safety backup` +
    `${options.undoCopyTakenAt ? ` (taken ${options.undoCopyTakenAt})` : ''} are in no copy`
  );
}
