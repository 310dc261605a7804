import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { runBackup } from '../../shared/backup/run-backup.js';
import { listBackups } from '../../shared/catalog/list-backups.js';
import { FileTarget } from '../../shared/targets/file-target.js';
import { cli, samplesDir, tempDir } from '../harness/test-env.js';
import { sqliteContents } from '../harness/sqlite-contents.js';

/** The URL a user who encodes the path properly would write (what the CLI's help asks for). */
function encodedUrl(path: string): string {
  return `sqlite://${path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/')}`;
}

describe('SQLite restore to paths that hold %, #, ?, spaces and unicode', () => {
  for (const name of ['pct%41dir', 'hash#dir', 'q?dir', 'sp ace', 'ünïcödé 数据']) {
    for (const form of ['plain path', 'encoded sqlite URL'] as const) {
      test(`"${name}", given as a ${form}: the undo copy is of the file that is replaced, and nothing else is touched`, async () => {
        const root = await tempDir('sqlite-paths');
        const dir = join(root, name);
        await fs.mkdir(dir);
        const path = join(dir, 'app.db');
        await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), path);
        // What a URL reading of the name would land on instead: %41 is A; # and ? cut the path short.
        const decoys = [join(root, name.replace('%41', 'A')), join(root, name.split(/[#?]/)[0] as string)];
        for (const decoy of new Set(decoys)) {
          if (decoy === dir) continue;
          await fs.mkdir(decoy, { recursive: true });
          const db = new Database(join(decoy, 'app.db'));
          db.exec("create table decoy (x); insert into decoy values ('not yours')");
          db.close();
        }
        const decoyBytes = await Promise.all(decoys.filter((d) => d !== dir).map((d) => fs.readFile(join(d, 'app.db'))));

        const backups = join(root, 'backups');
        const original = sqliteContents(path);
        await runBackup({ source: path, target: backups });
        const db = new Database(path);
        db.exec(
          "create table added_later (x); insert into added_later values ('keep me in the undo copy'); delete from PlaylistTrack",
        );
        db.close();
        const changed = sqliteContents(path);

        const to = form === 'plain path' ? path : encodedUrl(path);
        const result = await cli(['restore', '--target', backups, '--latest', '--to', to, '--confirm', 'app.db']);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(sqliteContents(path), original, 'the destination holds the backup');
        for (const [i, d] of decoys.filter((x) => x !== dir).entries()) {
          assert.deepEqual(await fs.readFile(join(d, 'app.db')), decoyBytes[i], `${d} untouched`);
        }

        // The undo copy, restored elsewhere, is the destination as it was just before.
        const safety = (await listBackups(new FileTarget(backups))).backups.find((b) => b.manifest.kind === 'pre-restore');
        assert.ok(safety, 'a pre-restore backup was taken');
        assert.ok(result.stdout.includes(safety.manifest.location), result.stdout);
        const undone = join(root, 'undone.db');
        const undo = await cli(['restore', '--path', safety.manifest.location, '--to', undone, '--confirm', 'undone.db']);
        assert.equal(undo.code, 0, undo.stderr);
        assert.deepEqual(sqliteContents(undone), changed);
      });
    }
  }
});
