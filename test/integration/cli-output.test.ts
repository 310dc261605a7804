import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runBackup } from '../../shared/backup/run-backup.js';
import { cli, repoRoot, sampleCopy, samplesDir, tempDir } from '../harness/test-env.js';

const chinook = await sampleCopy('chinook/Chinook_Sqlite.sqlite');

/**
 * What a terminal acts on instead of showing: C0 controls but the newline that ends our own
 * lines, DEL, C1 controls (U+009B alone is CSI), line and paragraph separators, bidi controls.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const ACTED_ON = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function assertPrintable(what: string, text: string): void {
  const found = ACTED_ON.exec(text);
  assert.equal(found, null, `${what} prints U+${found?.[0].codePointAt(0)?.toString(16).padStart(4, '0')} raw:\n${text}`);
}

/** A name holding what a hostile or broken manifest may: colour, screen clear, a forged line, C1 CSI, a bidi override, a bell. */
const HOSTILE = 'evil\x1b[2J\x1b[31mred\nforged line\r\u009b31m\u202egnp.exe\x07';

describe('every human-readable output escapes control characters in data', () => {
  test('manifest fields with escape sequences and newlines: list, info, verify, restore and errors print them escaped, one line each; JSON keeps the value', async () => {
    const dir = await tempDir('hostile');
    const path = join(dir, 'app.db');
    await fs.copyFile(chinook, path);
    const target = join(dir, 'b');
    const manifest = await runBackup({ source: path, target });
    const edited = { ...manifest, backup_file: HOSTILE, database: `app${HOSTILE}`, label: HOSTILE };
    await fs.writeFile(`${manifest.location}.json`, JSON.stringify(edited));
    // A damaged manifest whose own file name holds an escape sequence: its warning quotes the key.
    await fs.writeFile(join(target, 'sqlite/app/2026', 'x\x1b[31m.db.gz.json'), '{');

    const list = await cli(['list', '--target', target]);
    assert.equal(list.code, 0, list.stderr);
    assertPrintable('list', list.stdout + list.stderr);
    const rows = list.stdout.trim().split('\n');
    assert.equal(rows.length, 2, `one header and one row:\n${list.stdout}`);
    assert.ok(rows[1]?.startsWith('evil\\x1b[2J\\x1b[31mred\\nforged line\\r\\x9b31m\\u202egnp.exe\\x07  '), rows[1]);
    assert.match(list.stderr, /unreadable manifest sqlite\/app\/2026\/x\\x1b\[31m\.db\.gz\.json/);

    const json = await cli(['list', '--target', target, '--json']);
    assertPrintable('list --json', json.stdout);
    assert.equal((JSON.parse(json.stdout) as Array<{ backup_file: string }>)[0]?.backup_file, HOSTILE);

    const info = await cli(['info', '--target', target]);
    assertPrintable('info', info.stdout + info.stderr);
    const infoJson = await cli(['info', '--target', target, '--json']);
    assertPrintable('info --json', infoJson.stdout);

    const verify = await cli(['verify', '--target', target, '--all']);
    assertPrintable('verify', verify.stdout + verify.stderr);
    const verifyJson = await cli(['verify', '--target', target, '--all', '--json']);
    assertPrintable('verify --json', verifyJson.stdout);

    const named = await cli(['verify', '--target', target, '--file', HOSTILE]);
    assertPrintable('verify --file', named.stdout + named.stderr);

    const missing = await cli(['restore', '--target', target, '--file', `nope${HOSTILE}`, '--to', path, '--confirm', 'app.db']);
    assert.equal(missing.code, 2);
    assertPrintable('an error', missing.stderr);
    assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);

    const copy = join(dir, 'copy.db');
    const restore = await cli(['restore', '--target', target, '--file', HOSTILE, '--to', copy, '--confirm', 'copy.db']);
    assert.equal(restore.code, 0, restore.stderr);
    assertPrintable('restore', restore.stdout + restore.stderr);
    const dry = await cli(['restore', '--target', target, '--file', HOSTILE, '--to', copy, '--dry-run']);
    assertPrintable('restore --dry-run', dry.stdout + dry.stderr);
    const restoreJson = await cli(['restore', '--target', target, '--file', HOSTILE, '--to', copy, '--dry-run', '--json']);
    assertPrintable('restore --json', restoreJson.stdout);
  });

  test('a target path and a file name from the command line with control characters: backup, list and errors escape them', async () => {
    const dir = await tempDir('hostile');
    // A copy: a backup locks its SQLite source, and other test files back up the sample meanwhile.
    const source = join(dir, 'app.db');
    await fs.copyFile(chinook, source);
    const target = join(dir, 'out\x1b[31m\u202e');
    const backup = await cli(['backup', '--source', source, '--target', target]);
    assert.equal(backup.code, 0, backup.stderr);
    assertPrintable('backup', backup.stdout + backup.stderr);
    assert.ok(backup.stdout.includes('out\\x1b[31m\\u202e/'), backup.stdout);
    const json = await cli(['backup', '--source', source, '--target', target, '--json']);
    assertPrintable('backup --json', json.stdout);

    const none = await cli(['list', '--target', target, '--database', 'nothing\x1b[31m']);
    assertPrintable('list of nothing', none.stdout + none.stderr);
    const unknown = await cli(['list', '--target', target, '--\x1b[31m']);
    assert.equal(unknown.code, 2);
    assertPrintable('an unknown option', unknown.stderr);
  });
});

describe('a reader that goes away', () => {
  test('list --json into a pipe closed at once (| head -c 1) ends quietly with exit 0: no stack trace', async () => {
    const dir = await tempDir('epipe');
    const source = join(dir, 'app.db');
    await fs.copyFile(join(samplesDir, 'chinook/Chinook_Sqlite.sqlite'), source);
    for (let i = 0; i < 3; i++) await runBackup({ source, target: join(dir, 'b') });
    const child = spawn(process.execPath, [join(repoRoot, 'bin/dbbackup.js'), 'list', '--target', join(dir, 'b'), '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(stderr, '');
  });
});
