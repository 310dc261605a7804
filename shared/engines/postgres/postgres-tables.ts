import type pg from 'pg';
import { quoteIdent } from './postgres-client.js';

/** A table that holds user data. */
export interface UserTable {
  /** `schema.name`, as manifests and restore checks name it. */
  readonly qualified: string;
  readonly schema: string;
  readonly name: string;
}

/**
 * The tables whose rows a backup counts and a restore checks. One definition for both: if they
 * differed, a correct restore would fail its verification. Partitions count as tables; their
 * partitioned parents (no storage of their own) do not.
 */
export async function listUserTables(client: pg.Client): Promise<UserTable[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'r' and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
      order by 1, 2`,
  );
  return rows.map((r) => ({ qualified: `${r.schema}.${r.name}`, schema: r.schema, name: r.name }));
}

/** Takes a shared lock on a table (the lock pg_dump takes), held until the transaction ends. */
export async function lockTable(client: pg.Client, table: UserTable): Promise<void> {
  await client.query(`lock table ${quoteIdent(table.schema)}.${quoteIdent(table.name)} in access share mode`);
}

/** Counts a table's rows exactly. */
export async function countRows(client: pg.Client, table: UserTable): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `select count(*)::text as n from ${quoteIdent(table.schema)}.${quoteIdent(table.name)}`,
  );
  return Number(rows[0]?.n ?? 0);
}
