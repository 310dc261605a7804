import { constants, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../errors.js';
import { runCommand } from '../../pipeline/run-command.js';
import type { Settings } from '../../settings.js';

/** A PostgreSQL client program found on this machine. */
export interface PgTool {
  readonly path: string;
  readonly major: number;
  /** As the program prints it, e.g. `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`. */
  readonly version: string;
  /** True when it came from DBBACKUP_PG_BIN_DIR, which is preferred when it fits. */
  readonly preferred: boolean;
}

/** Finds every copy of `name` (pg_dump or pg_restore), newest major first. */
export async function findPgTools(name: 'pg_dump' | 'pg_restore', settings: Settings): Promise<PgTool[]> {
  const preferredDirs = settings.pgBinDirs;
  const dirs = [...settings.searchPath, ...(await systemBinDirs())];
  const seen = new Set<string>();
  const candidates: Array<{ path: string; preferred: boolean }> = [];
  for (const [dir, preferred] of [...preferredDirs.map((d) => [d, true] as const), ...dirs.map((d) => [d, false] as const)]) {
    const path = join(dir, name);
    try {
      await fs.access(path, constants.X_OK);
      const real = await fs.realpath(path);
      if (seen.has(real)) continue;
      seen.add(real);
      candidates.push({ path, preferred });
    } catch {}
  }
  const tools = (await Promise.all(candidates.map((c) => probeTool(c.path, c.preferred)))).filter(
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

async function probeTool(path: string, preferred: boolean): Promise<PgTool | undefined> {
  try {
    const { code, stdout } = await runCommand(path, ['--version'], { timeoutMs: 10_000 });
    const version = stdout.trim();
    const major = majorOf(version);
    if (code !== 0 || major === undefined) return undefined;
    return { path, major, version, preferred };
  } catch {
    return undefined;
  }
}

/**
 * Picks the tool that can work with a server of `serverMajor`: pg_dump refuses servers newer than
 * itself. DBBACKUP_PG_BIN_DIR wins when it fits; otherwise the newest fitting one.
 */
export function choosePgTool(tools: readonly PgTool[], serverMajor: number, serverVersion: string, name: string): PgTool {
  const fit = tools.find((t) => t.major >= serverMajor);
  if (fit) return fit;
  const found = tools.length > 0 ? tools.map((t) => `${t.major} (${t.path})`).join(', ') : 'none';
  throw new ConfigError(
    `no ${name} can handle PostgreSQL server ${serverVersion}: ${name} must be version ${serverMajor} or newer; found ${found}`,
    {
      hint: `install the PostgreSQL ${serverMajor} client (Debian: apt-get install postgresql-client-${serverMajor}) or set DBBACKUP_PG_BIN_DIR to its bin directory`,
    },
  );
}

/** The major version a client program's version line names: `pg_dump (PostgreSQL) 15.18 …` → 15. */
export function majorOf(version: string | undefined): number | undefined {
  // A bare `15.4` (a hand-written manifest) counts too: the first number is the major.
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(version ?? '') ?? /^\s*(\d+)(?:\.\d+)*\s*$/.exec(version ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * Picks a pg_restore that can read an archive written by `dumpedBy` (a pg_dump version line):
 * its major must be at least the pg_dump's. Unknown: any pg_restore is tried.
 */
export function choosePgRestore(tools: readonly PgTool[], dumpedBy: string | undefined): PgTool {
  return choosePgTool(tools, majorOf(dumpedBy) ?? 0, dumpedBy ?? 'unknown', 'pg_restore');
}
