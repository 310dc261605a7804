import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../redact.js';

const SQLITE_EXTENSIONS = /\.(db|sqlite|sqlite3)$/i;

/** Which engine a database URL names, and for SQLite the file. */
export type DatabaseLocation = { readonly engine: 'postgres' } | { readonly engine: 'sqlite'; readonly path: string };

/**
 * Reads a database URL, for a backup's source and a restore's destination alike:
 * `postgres://` or `postgresql://` → PostgreSQL; `sqlite:///abs/path.db`, `sqlite:rel/path.db`,
 * or a plain path (Windows `C:\…` too) ending in .db, .sqlite or .sqlite3 → SQLite.
 */
export function locateDatabase(url: string, role: 'source' | 'destination'): DatabaseLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return { engine: 'postgres' };
  if (scheme === 'sqlite') return { engine: 'sqlite', path: sqlitePath(url) };
  const windowsDrive = /^[a-z]:[\\/]/i.test(url);
  if ((scheme === undefined || windowsDrive) && SQLITE_EXTENSIONS.test(url)) return { engine: 'sqlite', path: url };
  const option = role === 'source' ? 'source' : 'to';
  if (scheme === undefined) {
    throw new ConfigError(`cannot tell the database engine of ${role} "${url}"`, {
      hint: (w) =>
        `use ${w.setting(option, 'postgres://user@host/db')}, sqlite:///absolute/path.db, or a path ending in .db, .sqlite or .sqlite3`,
    });
  }
  throw new ConfigError(`unsupported ${role} URL scheme "${scheme}" in "${redactUrl(url)}"`, {
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
