import { sqlitePath } from '../engines/open-engine.js';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../redact.js';
import type { Destination } from './destination.js';

/** Picks the destination for a URL: `postgres://…` or `sqlite:///path.db` (or a path ending in .db/.sqlite/.sqlite3). */
export async function openDestination(url: string, env: NodeJS.ProcessEnv = process.env): Promise<Destination> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { PostgresDestination } = await import('./postgres-destination.js');
    return new PostgresDestination(url, env);
  }
  const path =
    scheme === 'sqlite' ? sqlitePath(url) : scheme === undefined && /\.(db|sqlite|sqlite3)$/i.test(url) ? url : undefined;
  if (path !== undefined) {
    const { SqliteDestination } = await import('./sqlite-destination.js');
    return new SqliteDestination(path);
  }
  throw new ConfigError(`unsupported destination "${redactUrl(url)}"`, {
    hint: 'use --to postgres://user@host/db or --to sqlite:///path/app.db',
  });
}
