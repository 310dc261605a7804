import { locateDatabase } from './database-location.js';
import type { Destination } from './destination.js';

/** Picks the destination for a URL, read as a backup's source is (see locateDatabase). */
export async function openDestination(url: string, env: NodeJS.ProcessEnv = process.env): Promise<Destination> {
  const location = locateDatabase(url, 'destination');
  if (location.engine === 'postgres') {
    const { PostgresDestination } = await import('./postgres/postgres-destination.js');
    return new PostgresDestination(url, env);
  }
  const { SqliteDestination } = await import('./sqlite/sqlite-destination.js');
  return new SqliteDestination(location.path);
}
