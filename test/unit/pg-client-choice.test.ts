import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  choosePgDump,
  choosePgRestore,
  choosePgRestoreRoute,
  findPgTools,
  type PgTool,
} from '../../shared/engines/postgres/find-pg-tools.js';
import { readSettings } from '../../shared/settings.js';
import { ConfigError } from '../../shared/errors.js';

// The image bundles clients 15-18 in DBBACKUP_PG_BIN_DIR; a Debian host has /usr/lib/postgresql/N/bin.
const tool = (major: number, preferred = false, name = 'pg_restore'): PgTool => ({
  path: `/${preferred ? 'opt' : 'usr'}/pg${major}/${name}`,
  major,
  version: `${name} (PostgreSQL) ${major}.4`,
  preferred,
});
const image = [18, 17, 16, 15].map((m) => tool(m, true, 'pg_dump'));
/** The harness's client: Debian's PostgreSQL 15. */
const DEBIAN_PG_DUMP = '/usr/lib/postgresql/15/bin/pg_dump';
const dumpedBy = (major: number) => `pg_dump (PostgreSQL) ${major}.4 (Debian ${major}.4-1)`;
const server = (major: number) => ({ major, version: `${major}.9` });

describe('choosing pg_dump for a server', () => {
  test('with clients 15-18 bundled, each server is dumped by its own major, not by 18', () => {
    for (const major of [15, 16, 17, 18]) assert.equal(choosePgDump(image, major, `${major}.1`).major, major);
  });

  test('a server whose major is not here gets the oldest newer client', () => {
    assert.equal(choosePgDump(image, 13, '13.16').major, 15);
    assert.equal(choosePgDump([tool(13), tool(17), tool(18)], 14, '14.2').major, 17);
  });

  test('the order tools were found in does not change the choice', () => {
    const tools = [tool(15), tool(18), tool(13), tool(17)];
    for (let i = 0; i < tools.length; i++) {
      const rotated = [...tools.slice(i), ...tools.slice(0, i)];
      assert.equal(choosePgDump(rotated, 16, '16.3').major, 17);
      assert.equal(choosePgDump(rotated, 13, '13.3').major, 13);
    }
  });

  test('DBBACKUP_PG_BIN_DIR wins when one of its clients fits, and the major rule picks among them', () => {
    // The operator named this directory: its 18 dumps a 16 server though the system has a 16.
    assert.equal(choosePgDump([tool(18, true), tool(16)], 16, '16.3').path, '/opt/pg18/pg_restore');
    assert.equal(choosePgDump([tool(18, true), tool(16, true), tool(16)], 16, '16.3').path, '/opt/pg16/pg_restore');
    // None of it fits: the rest of the machine is searched as if it were not set.
    assert.equal(choosePgDump([tool(15, true), tool(18), tool(17)], 17, '17.1').path, '/usr/pg17/pg_restore');
  });

  test('a server newer than every client is refused, naming its version and every client found', () => {
    assert.throws(
      () => choosePgDump([tool(17, true), tool(15)], 18, '18.4'),
      (e: unknown) =>
        e instanceof ConfigError &&
        /server 18\.4/.test(e.message) &&
        /version 18 or newer/.test(e.message) &&
        /found 17 \(\/opt\/pg17\/pg_restore\), 15 \(\/usr\/pg15\/pg_restore\)/.test(e.message) &&
        /postgresql-client-18/.test(e.hint ?? ''),
    );
  });
});

describe('choosing pg_restore for an archive and a server', () => {
  const all = [tool(18), tool(17), tool(16), tool(15), tool(13)];

  test("the destination server's own major when it can read the archive", () => {
    assert.equal(choosePgRestore(all, dumpedBy(13), { server: server(17) }).major, 17);
    assert.equal(choosePgRestore(all, dumpedBy(16), { server: server(16) }).major, 16);
    assert.equal(choosePgRestore(all, dumpedBy(18), { server: server(18) }).major, 18);
  });

  test("else the oldest that can read it (the archive's own major when it is here)", () => {
    const withoutServers = [tool(18), tool(17), tool(13)];
    assert.equal(choosePgRestore(withoutServers, dumpedBy(13), { server: server(15) }).major, 13);
    assert.equal(choosePgRestore([tool(18), tool(17)], dumpedBy(15), { server: server(17) }).major, 17);
    assert.equal(choosePgRestore([tool(18), tool(17)], dumpedBy(17), { server: server(18) }).major, 18);
  });

  test('without a server (verify reads the archive only) the oldest that can read it', () => {
    assert.equal(choosePgRestore(all, dumpedBy(15)).major, 15);
    assert.equal(choosePgRestore(all, dumpedBy(14)).major, 15);
  });

  test('DBBACKUP_PG_BIN_DIR wins when one of its programs reads the archive', () => {
    const tools = [tool(18, true), tool(17, true), tool(17)];
    assert.equal(choosePgRestore(tools, dumpedBy(17), { server: server(17) }).path, '/opt/pg17/pg_restore');
    assert.equal(choosePgRestore([tool(15, true), tool(17)], dumpedBy(16), { server: server(17) }).path, '/usr/pg17/pg_restore');
  });

  test('an archive newer than every pg_restore is refused, naming both versions', () => {
    assert.throws(
      () => choosePgRestore([tool(15), tool(17)], dumpedBy(18), { server: server(18) }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /written by pg_dump \(PostgreSQL\) 18\.4/.test(e.message) &&
        /pg_restore here is pg_restore \(PostgreSQL\) 17\.4, which cannot read it/.test(e.message) &&
        /postgresql-client-18/.test(e.hint ?? ''),
    );
  });

  test("a reader newer than the server is not refused: the choice stays the rule's, the route says how it gets in", () => {
    assert.equal(choosePgRestore(all, dumpedBy(17), { server: server(16) }).major, 17);
    assert.equal(choosePgRestore([tool(18), tool(17)], dumpedBy(15), { server: server(15) }).major, 17);
  });
});

describe('the route into the server', () => {
  const all = [tool(18), tool(17), tool(16), tool(15), tool(13)];
  const debian = [tool(18), tool(17), tool(15), tool(13)];

  // pg_restore 17+ sends SET transaction_timeout (pg_backup_archiver.c, _doSetFixedOutputState),
  // which servers up to 16 reject: with --exit-on-error the restore would fail on its first statement.
  test('the backup of a 16 server (pg_dump 17, no client 16 here) restores into 16 through psql, without that SET', () => {
    const route = choosePgRestoreRoute(debian, dumpedBy(17), { server: server(16) });
    assert.equal(route.tool.major, 17);
    assert.equal(route.throughPsql, true);
    assert.equal(route.withoutTransactionTimeout, true);
  });

  test('a pg_restore 17 or newer never talks to a server before 17 itself; the same archive into 17+ goes straight in', () => {
    for (const serverMajor of [13, 14, 15, 16]) {
      const route = choosePgRestoreRoute([tool(18), tool(17)], dumpedBy(serverMajor), { server: server(serverMajor) });
      assert.deepEqual([route.tool.major, route.throughPsql, route.withoutTransactionTimeout], [17, true, true]);
    }
    for (const serverMajor of [17, 18]) {
      const route = choosePgRestoreRoute(all, dumpedBy(17), { server: server(serverMajor) });
      assert.deepEqual([route.tool.major, route.throughPsql, route.withoutTransactionTimeout], [serverMajor, false, false]);
    }
  });

  test('a pg_restore before 17 goes straight in, whatever the server', () => {
    for (const [tools, archive, serverMajor, expected] of [
      [all, 16, 16, 16],
      [debian, 13, 16, 13],
      [debian, 15, 14, 15],
    ] as const) {
      const route = choosePgRestoreRoute(tools, dumpedBy(archive), { server: server(serverMajor) });
      assert.deepEqual([route.tool.major, route.throughPsql, route.withoutTransactionTimeout], [expected, false, false]);
    }
  });

  test("a plain script goes through psql; into a server before 17 without its pg_dump's SET, into 17+ untouched", () => {
    const into15 = choosePgRestoreRoute(all, dumpedBy(18), { server: server(15), format: 'plain' });
    assert.deepEqual([into15.tool.major, into15.throughPsql, into15.withoutTransactionTimeout], [18, true, true]);
    const into18 = choosePgRestoreRoute(all, dumpedBy(17), { server: server(18), format: 'plain' });
    assert.deepEqual([into18.throughPsql, into18.withoutTransactionTimeout], [true, false]);
    // A script of pg_dump 15 sets nothing new: the filter runs and drops nothing; a newer psql runs it into 16.
    assert.equal(
      choosePgRestoreRoute([tool(18), tool(17)], dumpedBy(15), { server: server(16), format: 'plain' }).tool.major,
      17,
    );
  });

  test('only an archive newer than every pg_restore here is still refused', () => {
    assert.throws(
      () => choosePgRestoreRoute([tool(15), tool(17)], dumpedBy(18), { server: server(16) }),
      (e: unknown) =>
        e instanceof ConfigError && /pg_restore here is pg_restore \(PostgreSQL\) 17\.4, which cannot read it/.test(e.message),
    );
  });
});

describe("finding the clients: Debian's pg_wrapper", () => {
  /** A directory laid out as Debian's postgresql-common lays out /usr/bin: pg_dump a link to a script named pg_wrapper. */
  async function wrapperDir(): Promise<string> {
    const dir = await fs.mkdtemp(join(tmpdir(), 'pg-wrapper-'));
    await fs.mkdir(join(dir, 'share'));
    await fs.mkdir(join(dir, 'bin'));
    await fs.writeFile(join(dir, 'share/pg_wrapper'), `#!/bin/sh\nexec ${DEBIAN_PG_DUMP} "$@"\n`, { mode: 0o755 });
    await fs.symlink('../share/pg_wrapper', join(dir, 'bin/pg_dump'));
    return dir;
  }

  test('on PATH it is passed over for the versioned program it would run: no Perl start on every run', async () => {
    const dir = await wrapperDir();
    try {
      const tools = await findPgTools('pg_dump', readSettings({ PATH: join(dir, 'bin') }));
      assert.ok(tools.length > 0, 'the versioned directories are searched');
      assert.ok(!tools.some((t) => t.path.startsWith(dir)), tools.map((t) => t.path).join(', '));
      assert.ok(tools.some((t) => t.path === DEBIAN_PG_DUMP));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test('named by DBBACKUP_PG_BIN_DIR it is the operator’s choice, and kept', async () => {
    const dir = await wrapperDir();
    try {
      const tools = await findPgTools('pg_dump', readSettings({ PATH: '', DBBACKUP_PG_BIN_DIR: join(dir, 'bin') }));
      assert.equal(tools[0]?.path, join(dir, 'bin/pg_dump'));
      assert.equal(tools[0]?.preferred, true);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
