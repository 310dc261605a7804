import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Manifest } from '../../shared/manifest.js';
import { misdefineIndex } from '../harness/sqlite-contents.js';
import { assertOnlyFailedRunRecord, cli, tempDir } from '../harness/test-env.js';

/**
 * A database as an application that loads SQLite extensions leaves it: plain tables, an FTS5
 * table whose tokenizer the application registered, a built-in R*Tree, and a vector table of
 * the sqlite-vec extension. Neither extension is loaded here, so both are stand-ins, written into
 * sqlite_schema directly (writable_schema): `v` names the module vec0 (with a shadow table of
 * its own, as sqlite-vec keeps its vectors), and `docs` a tokenizer that does not exist.
 */
function extensionDatabase(path: string): void {
  const db = new Database(path);
  db.exec(`
    create table notes (id integer primary key, body text);
    insert into notes (body) values ('one'), ('two'), ('three');
    create virtual table docs using fts5(body, tokenize = 'unicode61');
    insert into docs (body) values ('hello world'), ('good bye');
    create virtual table shapes using rtree(id, minx, maxx);
    insert into shapes values (1, 0, 1);
    create table v_chunks (id integer primary key, data blob);
    insert into v_chunks (data) values (x'00'), (x'01');
  `);
  db.unsafeMode(true);
  db.pragma('writable_schema = on');
  db.prepare(
    `insert into sqlite_schema (type, name, tbl_name, rootpage, sql)
     values ('table', 'v', 'v', 0, 'CREATE VIRTUAL TABLE v USING vec0(embedding float[4])')`,
  ).run();
  db.prepare("update sqlite_schema set sql = replace(sql, 'unicode61', 'custom_tokenizer') where name = 'docs'").run();
  db.pragma('writable_schema = off');
  db.close();
}

/** The schema and the rows of every table SQLite can read without the extensions. */
function readable(path: string): { schema: unknown[]; rows: Record<string, unknown[]> } {
  const db = new Database(path, { readonly: true });
  try {
    const schema = db.prepare('select type, name, sql from sqlite_schema order by name').raw().all();
    const tables = db
      .prepare("select name from pragma_table_list where schema = 'main' and type in ('table', 'shadow') order by name")
      .pluck()
      .all() as string[];
    return { schema, rows: Object.fromEntries(tables.map((t) => [t, db.prepare(`select * from "${t}"`).raw().all()])) };
  } finally {
    db.close();
  }
}

describe('SQLite databases with extension virtual tables', () => {
  test('back up, verify and restore; the manifest counts what can be counted and names each skipped table with why', async () => {
    const dir = await tempDir('vtab');
    const source = join(dir, 'app.db');
    extensionDatabase(source);
    const original = readable(source);
    const target = join(dir, 'backups');

    const backup = await cli(['backup', '--source', source, '--target', target, '--json']);
    assert.equal(backup.code, 0, backup.stderr);
    const manifest = JSON.parse(backup.stdout) as Manifest;
    assert.equal(manifest.tables.notes, 3);
    assert.equal(manifest.tables.docs_content, 2, "the FTS5 table's own rows, in its shadow table");
    assert.equal(manifest.tables.v_chunks, 2);
    assert.equal(manifest.tables.shapes, 1, 'a built-in virtual table is counted');
    assert.equal(manifest.tables.v, undefined);
    assert.match(manifest.tables_skipped.v ?? '', /not counted: no such module: vec0/);
    assert.match(manifest.tables_skipped.docs ?? '', /integrity check/);
    assert.deepEqual(Object.keys(manifest.tables_skipped).sort(), ['docs', 'v']);

    const verify = await cli(['verify', '--target', target, '--latest']);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);

    const copy = join(dir, 'copy.db');
    const fresh = await cli(['restore', '--target', target, '--latest', '--to', copy, '--confirm', 'copy.db']);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stdout, /v: not counted: no such module: vec0/);
    assert.deepEqual(readable(copy), original);

    // Into a database that holds the same extension tables: it is inspected and copied first.
    const db = new Database(source);
    db.exec("insert into notes (body) values ('after the backup')");
    db.close();
    const over = await cli(['restore', '--target', target, '--latest', '--to', source, '--confirm', 'app.db']);
    assert.equal(over.code, 0, over.stderr);
    assert.deepEqual(readable(source), original);
  });

  test('when the whole-file check cannot run, each table is still checked: a damaged index fails the backup and stores nothing', async () => {
    const dir = await tempDir('vtab-corrupt');
    const source = join(dir, 'app.db');
    extensionDatabase(source);
    const db = new Database(source);
    db.exec("create table t (a, b); create index ti on t (a); insert into t values (1, 'x'), (2, 'y')");
    // The index now claims to be on a column it does not hold: every row is missing from it.
    misdefineIndex(db, 'ti', 'CREATE INDEX ti ON t (b)');
    db.close();
    const tmp = await tempDir('vtab-corrupt-tmp');
    const target = join(dir, 'backups');

    const result = await cli(['backup', '--source', source, '--target', target], {
      env: { ...process.env, DBBACKUP_TMPDIR: tmp },
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /failed integrity_check: row 1 missing from index ti/);
    assert.deepEqual(await fs.readdir(tmp), []);
    // No backup: only the run's record of its failure.
    await assertOnlyFailedRunRecord({ dir: target }, { error: /failed integrity_check/ });
    await assert.rejects(fs.stat(`${source}.dbbackup-lock`), { code: 'ENOENT' });
  });
});
