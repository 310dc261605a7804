import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { watchChild } from '../../pipeline/child-process-stream.js';
import type { SqliteFileReport } from './sqlite-file.js';

/** An inspection of a SQLite file running in a process of its own. */
export interface InspectionAside {
  /** What `inspectSqliteFile` reports, or its error (a message and SQLite's code, as thrown there). */
  readonly report: Promise<SqliteFileReport>;
  /** Ends the inspection if it is still reading (the run is over or failed); resolves once its process has exited. */
  stop(): Promise<void>;
}

/**
 * Runs `inspectSqliteFile` (integrity_check and the row counts: a read of the whole file) in a
 * child process, so that a backup compresses and stores its snapshot while the snapshot is
 * checked; on two cores the check then no longer adds to the backup's time. Not a worker thread:
 * better-sqlite3 is synchronous, and a thread inside SQLite's check cannot be stopped until the
 * check returns (minutes on a large file), where a process is killed at once.
 */
export function inspectSqliteFileAside(path: string): InspectionAside {
  const child = fork(fileURLToPath(new URL('./inspect-child.js', import.meta.url)), [path], {
    // Not the parent's flags (a profiler, an inspector port): the child only reads one file.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  // Its exit watched and its stderr's tail kept as for every child; a failure is named by `lastWords`.
  const watched = watchChild(child, ({ exit, spawnError }) => {
    if (spawnError) return spawnError;
    const said = lastWords(exit?.stderrTail ?? '');
    return new Error(
      `the SQLite check ended (${exit?.signal ?? `exit ${exit?.code}`}) without a report${said ? `: ${said}` : ''}`,
    );
  });
  const report = new Promise<SqliteFileReport>((resolve, reject) => {
    child.once('message', (message: { report?: SqliteFileReport; error?: { message: string; code?: string } }) => {
      if (message.report) resolve(message.report);
      else reject(Object.assign(new Error(message.error?.message ?? 'the SQLite check failed'), { code: message.error?.code }));
    });
    // After a report this changes nothing; without one, it says why there was none.
    void watched.exited.then((exit) => {
      const spawnError = watched.spawnError();
      reject(watched.describeFailure(spawnError ? { spawnError } : { exit }));
    });
  });
  // A caller that stops before it reads the report must not leave an unhandled rejection behind.
  report.catch(() => {});
  return {
    report,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await watched.exited;
    },
  };
}

/**
 * What a Node.js process that died said about why, in one line. Node ends an uncaught error's
 * report with its own version (`Node.js v20.20.2`) after the stack and the error's fields, so the
 * last line says nothing: the error's own line (`Error: Cannot find module …`, `FATAL ERROR: …`)
 * does, else the last line that is not the version.
 */
function lastWords(stderr: string): string | undefined {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/^Node\.js v\d/.test(line));
  return lines.findLast((line) => /^(?:(?:[A-Z]\w*)?Error\b|FATAL ERROR\b)/.test(line)) ?? lines.at(-1);
}
