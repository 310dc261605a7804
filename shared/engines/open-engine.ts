import { locateDatabase } from './database-location.js';
import type { Engine } from './engine.js';

/** Options passed to whichever engine the URL picks. */
export interface OpenEngineOptions {
  readonly label?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Picks the engine for a source URL (see {@link locateDatabase}), loading only that engine's
 * driver: start-up time counts for a CLI and a Lambda cold start.
 */
export async function openEngine(source: string, options: OpenEngineOptions = {}): Promise<Engine> {
  const location = locateDatabase(source, 'source');
  if (location.engine === 'postgres') {
    const { PostgresEngine } = await import('./postgres/postgres-engine.js');
    return new PostgresEngine(source, options);
  }
  const { SqliteEngine } = await import('./sqlite/sqlite-engine.js');
  return new SqliteEngine(location.path, { label: options.label });
}
