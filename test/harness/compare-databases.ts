import { join } from 'node:path';
import { pgUrl, run, sql } from './test-env.js';

/** Everything about a database that a restore must reproduce, in comparable form. */
export interface DatabaseFingerprint {
  readonly schema: string;
  readonly tables: Record<string, { rows: number; md5: string }>;
  readonly sequences: Record<string, string>;
  readonly largeObjects: Record<string, string>;
}

/** Takes a database's fingerprint: schema dump, per-table content checksums, sequences, large objects. */
export async function fingerprint(db: string): Promise<DatabaseFingerprint> {
  const binDir = process.env.DBBACKUP_TEST_PG_BIN_DIR as string;
  const { stdout } = await run(join(binDir, 'pg_dump'), ['--schema-only', '--no-owner', '--no-privileges', '-d', pgUrl(db)]);
  const schema = stdout
    .split('\n')
    .filter((line) => !line.startsWith('--') && !line.startsWith('\\restrict') && !line.startsWith('\\unrestrict'))
    .join('\n');
  const tableRows = await sql<{ schema: string; name: string }>(
    db,
    `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_toast%'
      order by 1, 2`,
  );
  const tables: DatabaseFingerprint['tables'] = {};
  for (const { schema: s, name } of tableRows) {
    const q = `"${s.replace(/"/g, '""')}"."${name.replace(/"/g, '""')}"`;
    const [row] = await sql<{ rows: string; md5: string }>(
      db,
      `select count(*)::text as rows, coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') as md5 from ${q} t`,
    );
    tables[`${s}.${name}`] = { rows: Number(row?.rows), md5: row?.md5 ?? '' };
  }
  const sequences: Record<string, string> = {};
  for (const s of await sql<{ name: string; v: string }>(
    db,
    `select schemaname || '.' || sequencename as name, coalesce(last_value::text, 'null') as v from pg_sequences order by 1`,
  )) {
    sequences[s.name] = s.v;
  }
  const largeObjects: Record<string, string> = {};
  for (const lo of await sql<{ oid: string; md5: string }>(
    db,
    'select oid::text, md5(lo_get(oid)) as md5 from pg_largeobject_metadata order by oid',
  )) {
    largeObjects[lo.oid] = lo.md5;
  }
  return { schema, tables, sequences, largeObjects };
}
