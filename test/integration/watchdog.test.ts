import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { tiedToThisProcess } from '../../shared/pipeline/run-command.js';
import { processes } from '../harness/test-env.js';

/**
 * The programs alive in process group `group` (field 5 of /proc/PID/stat), as their command lines;
 * a zombie (state Z) has ended, and only waits for whoever reaps orphans here.
 */
function inGroup(group: number): string[] {
  return processes()
    .filter((p) => {
      try {
        const fields = readFileSync(`/proc/${p.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
        return fields[0] !== 'Z' && Number(fields[2]) === group;
      } catch {
        return false;
      }
    })
    .map((p) => p.argv.join(' '));
}

/**
 * Runs `command` under the watchdog (tied to `parent`, this process unless given) in a process
 * group of its own, so that whatever it leaves behind can be found by group.
 */
function watched(command: string, args: readonly string[], parent?: number) {
  const [shell, shellArgs] = tiedToThisProcess(command, args);
  const argv = [...shellArgs];
  if (parent !== undefined) argv[3] = String(parent);
  const child = spawn(shell, argv, { detached: true, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ? 128 : code)));
  return { group: child.pid as number, child, exited };
}

async function until(what: () => boolean, limitMs: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < limitMs; await sleep(20)) if (what()) return true;
  return what();
}

test('a command that ends leaves nothing of the watchdog behind, not even the sleep of its once-a-second check', async (t) => {
  if (process.platform === 'win32') return t.skip('no watchdog on Windows');
  for (const [args, code] of [
    [['-c', 'exit 0'], 0],
    [['-c', 'exit 3'], 3],
    // Ends between two checks, and just after the first: either side of the watcher's sleep.
    [['-c', 'sleep 0.3'], 0],
    [['-c', 'sleep 1.05'], 0],
  ] as const) {
    const run = watched('/bin/sh', args);
    assert.equal(await run.exited, code, `sh ${args.join(' ')}`);
    // The group is empty at once: the old watcher's sleep lived on for up to a second, reparented.
    assert.deepEqual(inGroup(run.group), [], `left running after sh ${args.join(' ')}`);
  }
});

test('a command stopped by SIGTERM, or left by its parent, takes the watchdog with it', async (t) => {
  if (process.platform === 'win32') return t.skip('no watchdog on Windows');
  // SIGTERM to the watchdog is passed on; the command's status is the watchdog's.
  const stopped = watched('/bin/sleep', ['30']);
  await until(() => inGroup(stopped.group).length >= 3, 5_000);
  process.kill(stopped.group, 'SIGTERM');
  assert.equal(await stopped.exited, 143);
  assert.ok(await until(() => inGroup(stopped.group).length === 0, 2_000), `left: ${inGroup(stopped.group).join(', ')}`);

  // The parent killed outright (SIGKILL: it can pass nothing on): the command ends within the check's second.
  const parent = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  const orphaned = watched('/bin/sleep', ['30'], parent.pid);
  await until(() => inGroup(orphaned.group).length >= 3, 5_000);
  const killedAt = Date.now();
  parent.kill('SIGKILL');
  assert.equal(await orphaned.exited, 143);
  assert.ok(Date.now() - killedAt < 2_500, `ended ${Date.now() - killedAt} ms after its parent`);
  assert.ok(await until(() => inGroup(orphaned.group).length === 0, 2_000), `left: ${inGroup(orphaned.group).join(', ')}`);
});

test('the watchdog killed outright (SIGKILL after the grace, or a signal it does not trap) still takes the command with it', async (t) => {
  if (process.platform === 'win32') return t.skip('no watchdog on Windows');
  // stopChild sends SIGTERM and then SIGKILL (after its grace, or at once when this process exits):
  // the SIGKILL can land before the watchdog has passed the SIGTERM on. SIGQUIT (Ctrl-\) is not
  // trapped, and a background command ignores it. Either way the watchdog is gone and the command
  // is left: the watcher must stop it, at the latest once the parent is gone too.
  for (const signal of ['SIGKILL', 'SIGQUIT'] as const) {
    const parent = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    const run = watched('/bin/sleep', ['30'], parent.pid);
    try {
      await until(() => inGroup(run.group).length >= 3, 5_000);
      process.kill(run.group, signal);
      await run.exited;
      parent.kill('SIGKILL');
      assert.ok(
        await until(() => inGroup(run.group).length === 0, 2_500),
        `left after ${signal}: ${inGroup(run.group).join(', ')}`,
      );
    } finally {
      parent.kill('SIGKILL');
      try {
        process.kill(-run.group, 'SIGKILL');
      } catch {
        // Nothing left in the group.
      }
    }
  }
});
