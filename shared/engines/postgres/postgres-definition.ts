import type { EngineDefinition } from '../engine.js';
import { LIBPQ_SECRET_PARAMETERS } from './libpq-secret-parameters.js';

/** PostgreSQL, dumped by `pg_dump` and restored by `pg_restore` (custom) or `psql` (plain). */
export const postgres = {
  kind: 'postgres',
  title: 'PostgreSQL',
  urlPrefixes: ['postgres://', 'postgresql://'],
  urlExample: 'postgres://user@host/db',
  secretParameters: LIBPQ_SECRET_PARAMETERS,
  formats: [
    { name: 'custom', extension: '.dump', contentType: 'application/octet-stream' },
    { name: 'plain', extension: '.sql', contentType: 'application/sql' },
  ],
  async openSource(url, options) {
    const { PostgresEngine } = await import('./postgres-engine.js');
    return new PostgresEngine(url, options);
  },
  async openDestination(url, settings) {
    const { PostgresDestination } = await import('./postgres-destination.js');
    return new PostgresDestination(url, settings);
  },
  async openScratch(options) {
    const { openPostgresScratch } = await import('./postgres-scratch.js');
    return openPostgresScratch(options);
  },
  async checkContent(manifest, settings) {
    const { checkPostgresArchive } = await import('./postgres-content-check.js');
    return checkPostgresArchive(manifest, settings);
  },
} as const satisfies EngineDefinition;
