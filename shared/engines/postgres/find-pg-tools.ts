import { constants, promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { askedOnce } from '../../pipeline/program-probe.js';
import { runCommand } from '../../pipeline/run-command.js';
import type { Settings } from '../../settings.js';

/** A PostgreSQL client program found on this machine. */
export interface PgTool {
  readonly path: string;
  readonly major: number;
  /** As the program prints it, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`. */
  readonly version: string;
  /** True when it came from DBBACKUP_PG_BIN_DIR, which wins when one of its programs fits (`byMajorRule`). */
  readonly preferred: boolean;
}

/** What Debian's postgresql-common links pg_dump, pg_restore and psql in /usr/bin to. */
const DEBIAN_WRAPPER = 'pg_wrapper';

/** Finds every copy of `name` (pg_dump or pg_restore), newest major first. */
export async function findPgTools(name: 'pg_dump' | 'pg_restore', settings: Settings): Promise<PgTool[]> {
  const preferredDirs = settings.pgBinDirs;
  const dirs = [...settings.searchPath, ...(await systemBinDirs())];
  const seen = new Set<string>();
  const candidates: Array<{ path: string; preferred: boolean; wrapper: boolean }> = [];
  for (const [dir, preferred] of [...preferredDirs.map((d) => [d, true] as const), ...dirs.map((d) => [d, false] as const)]) {
    const path = join(dir, name);
    try {
      await fs.access(path, constants.X_OK);
      const real = await fs.realpath(path);
      if (seen.has(real)) continue;
      seen.add(real);
      candidates.push({ path, preferred, wrapper: basename(real) === DEBIAN_WRAPPER });
    } catch {}
  }
  // Debian's /usr/bin/pg_dump is a Perl script that picks one of /usr/lib/postgresql/*/bin by its
  // own rules and runs it: those directories are searched here anyway, and choosing among them
  // directly follows the major rule below and saves a Perl start (~0.1 s) on every run. Kept
  // when nothing else was found, or when DBBACKUP_PG_BIN_DIR names its directory.
  const direct = candidates.filter((c) => !c.wrapper || c.preferred);
  const searched = direct.length > 0 ? direct : candidates;
  const tools = (await Promise.all(searched.map((c) => probeTool(c.path, c.preferred)))).filter(
    (t): t is PgTool => t !== undefined,
  );
  return tools.sort((a, b) => Number(b.preferred) - Number(a.preferred) || b.major - a.major);
}

/** Versioned install directories (Debian's /usr/lib/postgresql/N/bin, RHEL's /usr/pgsql-N/bin), newest first. */
async function systemBinDirs(): Promise<string[]> {
  const dirs: string[] = [];
  try {
    for (const version of await fs.readdir('/usr/lib/postgresql')) dirs.push(`/usr/lib/postgresql/${version}/bin`);
  } catch {}
  try {
    for (const entry of await fs.readdir('/usr')) if (entry.startsWith('pgsql-')) dirs.push(`/usr/${entry}/bin`);
  } catch {}
  return dirs.sort((a, b) => majorInPath(b) - majorInPath(a));
}

function majorInPath(path: string): number {
  return Number(/(\d+)/.exec(path)?.[1] ?? 0);
}

/**
 * A program's `--version`, undefined when it fails; asked once per program per process
 * (`askedOnce`): a restore looks its tools up twice (the archive's roles, then the restore itself).
 */
const versionOf = askedOnce(
  (path) =>
    runCommand(path, ['--version'], { timeoutMs: 10_000 }).then(
      ({ code, stdout }) => (code === 0 ? stdout.trim() : undefined),
      () => undefined,
    ),
  (version) => version === undefined,
);

async function probeTool(path: string, preferred: boolean): Promise<PgTool | undefined> {
  const version = await versionOf(path);
  const major = version === undefined ? undefined : majorOf(version);
  if (version === undefined || major === undefined) return undefined;
  return { path, major, version, preferred };
}

/**
 * The first major whose pg_dump and pg_restore set `transaction_timeout` (the archiver writes
 * `SET transaction_timeout = 0;` into every script's fixed preamble, and pg_restore sends it to the
 * server before anything else, in `_doSetFixedOutputState`, whatever the server's version). Servers
 * older than this reject the setting, so such a client fails the whole restore under `--exit-on-error`.
 */
export const TRANSACTION_TIMEOUT_MAJOR = 17;

/**
 * Orders the fitting tools by the major rule: those of major `best` first, then the oldest. When a
 * tool from DBBACKUP_PG_BIN_DIR (`preferred`) fits, only those are ranked: a directory the operator
 * named is their choice, and the rule picks within it.
 */
function byMajorRule(tools: readonly PgTool[], fits: (t: PgTool) => boolean, best: number): PgTool[] {
  const fitting = tools.filter(fits);
  const preferred = fitting.filter((t) => t.preferred);
  const pool = preferred.length > 0 ? preferred : fitting;
  // Stable: among equal majors the search order (DBBACKUP_PG_BIN_DIR, PATH, system dirs) decides.
  return [...pool].sort((a, b) => Number(b.major === best) - Number(a.major === best) || a.major - b.major);
}

/**
 * Picks the pg_dump for a server of `serverMajor`. pg_dump refuses servers newer than itself, and a
 * newer one writes what only its own pg_restore reads (and `SET transaction_timeout`, which servers
 * before 17 reject), so the server's own major is chosen when it is here, else the oldest newer one.
 * DBBACKUP_PG_BIN_DIR wins when one of its programs can dump this server (the rule picks among them).
 */
export function choosePgDump(tools: readonly PgTool[], serverMajor: number, serverVersion: string): PgTool {
  const chosen = byMajorRule(tools, (t) => t.major >= serverMajor, serverMajor)[0];
  if (chosen) return chosen;
  const found = tools.length > 0 ? tools.map((t) => `${t.major} (${t.path})`).join(', ') : 'none';
  throw new ConfigError(
    `no pg_dump can handle PostgreSQL server ${serverVersion}: pg_dump must be version ${serverMajor} or newer; found ${found}`,
    {
      hint: `install the PostgreSQL ${serverMajor} client (Debian: apt-get install postgresql-client-${serverMajor}) or set DBBACKUP_PG_BIN_DIR to its bin directory`,
    },
  );
}

/** The destination server a restore's client must suit. */
export interface PgServer {
  readonly major: number;
  /** As the server reports it (`server_version`), for messages. */
  readonly version: string;
}

/**
 * Picks the pg_restore (or, for a plain script, the psql beside the chosen program) for a backup written by
 * `dumpedBy` (a pg_dump version line; unknown: any may try). A pg_restore reads only archives of
 * its own major or older, so the candidates are those at least the pg_dump's major; among them the
 * destination server's own major, else the oldest (the one least likely to send the server what
 * it does not know). Without a server (verify reads the archive only) the oldest that can read it.
 * DBBACKUP_PG_BIN_DIR wins when one of its programs can read the archive.
 *
 * Refused only when no program here reads the archive. A reader newer than the server is not
 * refused: `choosePgRestoreRoute` says how its restore reaches a server that predates it.
 */
export function choosePgRestore(
  tools: readonly PgTool[],
  dumpedBy: string | undefined,
  options: { server?: PgServer } = {},
): PgTool {
  const archiveMajor = majorOf(dumpedBy) ?? 0;
  const { server } = options;
  const chosen = byMajorRule(tools, (t) => t.major >= archiveMajor, server?.major ?? archiveMajor)[0];
  if (chosen) return chosen;
  const newest = tools.reduce<PgTool | undefined>((a, t) => (a && a.major >= t.major ? a : t), undefined);
  throw new ConfigError(
    `this backup was written by ${dumpedBy ?? 'an unknown pg_dump'}; ${
      newest ? `the newest pg_restore here is ${newest.version}, which cannot read it` : 'no pg_restore was found'
    }`,
    {
      hint: `install the PostgreSQL ${archiveMajor} client (Debian: apt-get install postgresql-client-${archiveMajor}) or set DBBACKUP_PG_BIN_DIR to its bin directory`,
    },
  );
}

/** How a restore reaches the destination server: which program reads the backup, and what runs its SQL. */
export interface PgRestoreRoute {
  /** The pg_restore that reads the archive; for a plain script, the program whose psql runs it. */
  readonly tool: PgTool;
  /**
   * The SQL runs through the psql beside `tool`: always for a plain script; for an archive, written
   * out by `pg_restore -f -` when that pg_restore would otherwise send the server a setting it rejects.
   */
  readonly throughPsql: boolean;
  /**
   * The preamble's `SET transaction_timeout = 0;` is left out on the way into psql
   * (`withoutTransactionTimeout`): the server predates the setting. Nothing else is changed.
   */
  readonly withoutTransactionTimeout: boolean;
}

/**
 * Chooses the reader (`choosePgRestore`) and the route into `server`. A pg_restore 17 or newer sends
 * `SET transaction_timeout = 0` first, which servers before 17 reject; when it is the one that reads
 * the archive (no older client here, as for a 16 server, which no Debian suite has a client of, dumped
 * by pg_dump 17), the archive goes through `pg_restore -f -` (the same SQL a plain dump is) into psql,
 * without that one line. A plain script into a server before 17 loses the same line on its way into
 * psql, whoever wrote it (before 17 none did, and the filter drops nothing). psql itself sends the
 * server nothing of its version: psql 17 and 18 run scripts into 13-16 servers as their own would.
 */
export function choosePgRestoreRoute(
  tools: readonly PgTool[],
  dumpedBy: string | undefined,
  options: { server: PgServer; format?: string },
): PgRestoreRoute {
  const { server, format = 'custom' } = options;
  const tool = choosePgRestore(tools, dumpedBy, { server });
  const olderServer = server.major < TRANSACTION_TIMEOUT_MAJOR;
  if (format === 'plain') return { tool, throughPsql: true, withoutTransactionTimeout: olderServer };
  const throughPsql = olderServer && tool.major >= TRANSACTION_TIMEOUT_MAJOR;
  return { tool, throughPsql, withoutTransactionTimeout: throughPsql };
}

/** The major version a client program's version line names: `pg_dump (PostgreSQL) 15.18 …` → 15. */
export function majorOf(version: string | undefined): number | undefined {
  // A bare `15.4` (a hand-written manifest) counts too: the first number is the major.
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(version ?? '') ?? /^\s*(\d+)(?:\.\d+)*\s*$/.exec(version ?? '');
  return match ? Number(match[1]) : undefined;
}
