import type { EngineDefinition } from '../engine.js';
import { sqlitePath, sqliteUrl } from './sqlite-path.js';

/** SQLite, copied with its online backup API; the archive is the database file itself. */
export const sqlite = {
  kind: 'sqlite',
  title: 'SQLite',
  urlPrefixes: ['sqlite:'],
  pathPattern: /\.(db|sqlite|sqlite3)$/i,
  urlExample: 'sqlite:///absolute/path.db, or a path ending in .db, .sqlite or .sqlite3',
  formats: [
    { name: 'sqlite', extension: '.db', otherExtensions: ['.sqlite', '.sqlite3'], contentType: 'application/octet-stream' },
  ],
  preparingPhase: 'snapshotting',
  fileUrl: sqliteUrl,
  async openSource(url, options) {
    const { SqliteEngine } = await import('./sqlite-engine.js');
    return new SqliteEngine(sqlitePath(url), { label: options.label, tmpDir: options.settings.tmpDir });
  },
  async openDestination(url) {
    const { SqliteDestination } = await import('./sqlite-destination.js');
    return new SqliteDestination(sqlitePath(url));
  },
  async openScratch(options) {
    const { openSqliteScratch } = await import('./sqlite-scratch.js');
    return openSqliteScratch(options);
  },
  async checkContent(manifest, settings) {
    const { checkSqliteArchive } = await import('./sqlite-content-check.js');
    return checkSqliteArchive(manifest, settings);
  },
} as const satisfies EngineDefinition;
