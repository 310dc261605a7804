import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { askedOnce, firstExecutable } from '../../shared/pipeline/program-probe.js';
import { tempDir } from '../harness/test-env.js';

describe('probing programs', () => {
  test('an answer is kept per key; a failed answer or a rejection is asked again next time', async () => {
    const asked: string[] = [];
    let answers = ['ok 1', 'ok 2'];
    const version = askedOnce(
      async (path) => {
        asked.push(path);
        if (path === '/throws') throw new Error('timed out');
        return path === '/fails' ? undefined : answers.shift();
      },
      (answer) => answer === undefined,
    );
    assert.equal(await version('/a'), 'ok 1');
    assert.equal(await version('/a'), 'ok 1', 'a good answer is kept');
    assert.equal(await version('/b'), 'ok 2', 'each key is asked on its own');
    answers = [];
    assert.equal(await version('/fails'), undefined);
    await assert.rejects(version('/throws'), /timed out/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await version('/fails'), undefined);
    await assert.rejects(version('/throws'));
    assert.deepEqual(asked, ['/a', '/b', '/fails', '/throws', '/fails', '/throws']);
  });

  test('the first executable file of a list; a missing file or one without the execute bit is passed over', async () => {
    const dir = await tempDir('probe');
    const plain = join(dir, 'plain');
    const runnable = join(dir, 'runnable');
    await fs.writeFile(plain, '', { mode: 0o644 });
    await fs.writeFile(runnable, '#!/bin/sh\n', { mode: 0o755 });
    assert.equal(firstExecutable([join(dir, 'missing'), plain, runnable]), runnable);
    assert.equal(firstExecutable([plain]), undefined);
    assert.equal(firstExecutable([]), undefined);
  });
});
