import { ConfigError } from '../errors.js';
import { redactLocation } from '../redact.js';
import { type Compression, COMPRESSION_SUFFIX, COMPRESSIONS } from '../compression/compression.js';
import type { Destination } from './destination.js';
import type { EngineDefinition, FormatDefinition } from './engine.js';
import { postgres } from './postgres/postgres-definition.js';
import { sqlite } from './sqlite/sqlite-definition.js';
import { defaultSettings, type Settings } from '../settings.js';

/**
 * Every engine dbbackup knows, in the order URLs are matched. A new engine is a folder under
 * `engines/` with its definition, and one entry here.
 */
export const ENGINES = [postgres, sqlite] as const satisfies readonly EngineDefinition[];

/** The database engines dbbackup can back up. */
export type EngineKind = (typeof ENGINES)[number]['kind'];
/** Every engine's dump formats: PostgreSQL custom (pg_restore) or plain SQL; SQLite's is the database file. */
export type DumpFormat = (typeof ENGINES)[number]['formats'][number]['name'];

export const DUMP_FORMATS = ENGINES.flatMap((e) => e.formats.map((f) => f.name)) as [DumpFormat, ...DumpFormat[]];

// Plain booleans, not type guards: the manifest's schema uses them, and a guard's type would tie
// the manifest's type to the engines' (which refer to it).
export function isEngineKind(kind: string): boolean {
  return (ENGINES as readonly EngineDefinition[]).some((e) => e.kind === kind);
}

export function isDumpFormat(format: string): boolean {
  return (ENGINES as readonly EngineDefinition[]).some((e) => e.formats.some((f) => f.name === format));
}

/**
 * Whether a URL or connection-string parameter holds a secret in any engine's URLs: its value
 * is never shown. Used wherever a location is shown before (or without) knowing its engine.
 */
export function isSecretParameter(name: string): boolean {
  const lower = name.toLowerCase();
  return (ENGINES as readonly EngineDefinition[]).some((e) => e.secretParameters?.includes(lower));
}

/** The definition of an engine by its kind (as manifests name it). */
export function engineOf(kind: string): EngineDefinition {
  const found = (ENGINES as readonly EngineDefinition[]).find((e) => e.kind === kind);
  if (!found) throw new Error(`unknown engine "${kind}"`);
  return found;
}

/** A format's definition; every format belongs to exactly one engine. */
export function formatOf(format: string): FormatDefinition & { readonly engine: EngineDefinition } {
  for (const engine of ENGINES as readonly EngineDefinition[]) {
    const found = engine.formats.find((f) => f.name === format);
    if (found) return { ...found, engine };
  }
  throw new Error(`unknown dump format "${format}"`);
}

/**
 * Picks the engine a database URL names, for a backup's source and a restore's destination
 * alike: by scheme (`postgres://`, `sqlite:`), or for a plain path (Windows `C:\…` too) by the
 * engine that claims its file name (SQLite: .db, .sqlite, .sqlite3).
 */
export function locateDatabase(url: string, role: 'source' | 'destination'): EngineDefinition {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  const windowsDrive = /^[a-z]:[\\/]/i.test(url);
  const engines = ENGINES as readonly EngineDefinition[];
  if (scheme !== undefined && !windowsDrive) {
    const found = engines.find((e) => e.urlPrefixes.some((p) => p.slice(0, p.indexOf(':')) === scheme));
    if (found) return found;
  } else {
    const found = engines.find((e) => e.pathPattern?.test(url));
    if (found) return found;
  }
  const option = role === 'source' ? 'source' : 'to';
  if (scheme === undefined || windowsDrive) {
    throw new ConfigError(`cannot tell the database engine of ${role} "${redactLocation(url, isSecretParameter)}"`, {
      hint: (w) =>
        `use ${w.setting(option, engines[0]?.urlExample)}, ${engines
          .slice(1)
          .map((e) => e.urlExample)
          .join(', ')}`,
    });
  }
  throw new ConfigError(`unsupported ${role} URL scheme "${scheme}" in "${redactLocation(url, isSecretParameter)}"`, {
    hint: `use ${listed(engines.flatMap((e) => e.urlPrefixes))}`,
  });
}

/** The URL of a database file of an engine whose databases are files (SQLite), which reads back as exactly `path`. */
export function databaseFileUrl(kind: string, path: string): string {
  const engine = engineOf(kind);
  if (!engine.fileUrl) throw new Error(`${engine.title} databases are not files`);
  return engine.fileUrl(path);
}

/** Opens the restore destination a URL names, read as a backup's source is. */
export async function openDestination(url: string, settings: Settings = defaultSettings()): Promise<Destination> {
  return locateDatabase(url, 'destination').openDestination(url, settings);
}

/**
 * Format and compression from a file name, for a backup restored without its manifest: the
 * format whose extension is the longest match wins, so a `.mysql.sql` engine could coexist
 * with PostgreSQL's `.sql`.
 */
export function inferFromName(fileName: string): { format: DumpFormat; compression: Compression } {
  const lower = fileName.toLowerCase();
  const compression = COMPRESSIONS.find((c) => c !== 'none' && lower.endsWith(COMPRESSION_SUFFIX[c])) ?? 'none';
  const stem = lower.slice(0, lower.length - COMPRESSION_SUFFIX[compression].length);
  let best: { format: string; length: number } | undefined;
  for (const engine of ENGINES as readonly EngineDefinition[]) {
    for (const format of engine.formats) {
      for (const ext of [format.extension, ...(format.otherExtensions ?? [])]) {
        if (stem.endsWith(ext) && ext.length > (best?.length ?? 0)) best = { format: format.name, length: ext.length };
      }
    }
  }
  if (best) return { format: best.format as DumpFormat, compression };
  const extensions = (ENGINES as readonly EngineDefinition[]).flatMap((e) =>
    e.formats.flatMap((f) => [f.extension, ...(f.otherExtensions ?? [])]),
  );
  const suffixes = COMPRESSIONS.filter((c) => c !== 'none').map((c) => COMPRESSION_SUFFIX[c]);
  throw new ConfigError(`cannot tell the format of "${fileName}" without its manifest`, {
    hint: `expected a name ending in ${listed(extensions)}, optionally followed by ${listed(suffixes)}`,
  });
}

/** Whether `format` is one of `engine`'s formats (a manifest must not pair one engine with another's format). */
export function engineWritesFormat(engine: string, format: string): boolean {
  return (ENGINES as readonly EngineDefinition[]).some((e) => e.kind === engine && e.formats.some((f) => f.name === format));
}

/** Formats the user may choose among (engines with more than one), for a front end's help. */
export function choosableFormats(): string[] {
  return (ENGINES as readonly EngineDefinition[]).flatMap((e) => (e.formats.length > 1 ? e.formats.map((f) => f.name) : []));
}

/** `a, b or c` */
function listed(items: readonly string[]): string {
  return items.length > 1 ? `${items.slice(0, -1).join(', ')} or ${items.at(-1)}` : (items[0] ?? '');
}
