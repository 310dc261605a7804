import { accessSync, constants } from 'node:fs';

/** The first of `paths` that is an executable file; undefined when none is. */
export function firstExecutable(paths: readonly string[]): string | undefined {
  return paths.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * `ask`, asked once per key (a program's path) for the life of this process: a backup probes its
 * programs at every run and the answer does not change, but a scheduler's process or a warm
 * function runs many. An answer `failed` says is a failure is not kept, nor is a rejection: one
 * probe that timed out under load must not hide the program until the process restarts.
 */
export function askedOnce<T>(ask: (key: string) => Promise<T>, failed: (answer: T) => boolean): (key: string) => Promise<T> {
  const answers = new Map<string, Promise<T>>();
  return (key) => {
    let asked = answers.get(key);
    if (!asked) {
      asked = ask(key);
      answers.set(key, asked);
      asked.then(
        (answer) => failed(answer) && answers.delete(key),
        () => answers.delete(key),
      );
    }
    return asked;
  };
}
