import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../redact.js';
import type { Engine } from './engine.js';

const SQLITE_EXTENSIONS = /\.(db|sqlite|sqlite3)$/i;

/** Options passed to whichever engine the URL picks. */
export interface OpenEngineOptions {
  readonly label?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Picks the engine for a source URL, loading only that engine's driver (start-up time counts
 * for a CLI and a Lambda cold start):
 * `postgres://` or `postgresql://` → PostgreSQL; `sqlite:///abs/path.db`, `sqlite:rel/path.db`
 * or a plain path ending in .db, .sqlite or .sqlite3 → SQLite.
 */
export async function openEngine(source: string, options: OpenEngineOptions = {}): Promise<Engine> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { PostgresEngine } = await import('./postgres.js');
    return new PostgresEngine(source, options);
  }
  const sqliteFile =
    scheme === 'sqlite'
      ? sqlitePath(source)
      : (scheme === undefined || /^[a-z]:[\\/]/i.test(source)) && SQLITE_EXTENSIONS.test(source)
        ? source
        : undefined;
  if (sqliteFile !== undefined) {
    const { SqliteEngine } = await import('./sqlite.js');
    return new SqliteEngine(sqliteFile, { label: options.label });
  }
  if (scheme === undefined) {
    throw new ConfigError(`cannot tell the database engine of source "${source}"`, {
      hint: 'use postgres://user@host/db, sqlite:///absolute/path.db, or a path ending in .db, .sqlite or .sqlite3',
    });
  }
  throw new ConfigError(`unsupported source URL scheme "${scheme}" in "${redactUrl(source)}"`, {
    hint: 'use postgres://, postgresql:// or sqlite:',
  });
}

/** `sqlite:///abs/x.db` → `/abs/x.db`; `sqlite:rel/x.db` → `rel/x.db`; `sqlite://localhost/abs` too. */
export function sqlitePath(url: string): string {
  const rest = url.slice('sqlite:'.length);
  if (rest.startsWith('//')) {
    try {
      return fileURLToPath(`file:${rest}`);
    } catch (cause) {
      throw new ConfigError(`invalid SQLite URL "${url}"`, { hint: 'use sqlite:///absolute/path.db', cause });
    }
  }
  if (!rest) throw new ConfigError(`SQLite URL "${url}" names no file`, { hint: 'use sqlite:///absolute/path.db' });
  return decodeURIComponent(rest);
}
