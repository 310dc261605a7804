import type { EngineDefinition } from '../engine.js';

/** PostgreSQL, dumped by `pg_dump` and restored by `pg_restore` (custom) or `psql` (plain). */
export const postgres = {
  kind: 'postgres',
  title: 'PostgreSQL',
  urlPrefixes: ['postgres://', 'postgresql://'],
  urlExample: 'postgres://user@host/db',
  formats: [
    { name: 'custom', extension: '.dump', contentType: 'application/octet-stream' },
    { name: 'plain', extension: '.sql', contentType: 'application/sql' },
  ],
  async openSource(url, options) {
    const { PostgresEngine } = await import('./postgres-engine.js');
    return new PostgresEngine(url, options);
  },
  async openDestination(url, env) {
    const { PostgresDestination } = await import('./postgres-destination.js');
    return new PostgresDestination(url, env);
  },
  async checkContent(manifest, env) {
    const { checkPostgresArchive } = await import('./postgres-content-check.js');
    return checkPostgresArchive(manifest, env);
  },
} as const satisfies EngineDefinition;
