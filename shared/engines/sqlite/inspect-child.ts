// The process that inspectSqliteFileAside starts: one inspection of the file named in its
// arguments, its report or its error sent back to the parent, then it exits.
//
// The inspection itself runs in a worker thread of this process. SQLite's check holds the thread
// it runs on until it returns (minutes on a large file), and a parent that dies without stopping
// it (SIGKILL, out of memory, a second Ctrl-C that does not wait for the cleanup) would leave it
// reading the whole file on for nobody, on a core the next run needs. This main thread stays free
// to see the parent go (its IPC channel closes) and end the process then, worker and all.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

type Outcome = { report: unknown } | { error: { message: string; code?: string } };

// SQLite (a native addon) is loaded by the worker alone: the main thread only waits and watches.
async function inspect(path: string): Promise<Outcome> {
  const { inspectSqliteFile } = await import('./sqlite-file.js');
  try {
    return { report: inspectSqliteFile(path) };
  } catch (error) {
    const { message: text, code } = error as { message?: string; code?: unknown };
    return { error: { message: text ?? String(error), code: typeof code === 'string' ? code : undefined } };
  }
}

if (isMainThread) {
  let answered = false;
  // Not process.exit(): it waits for the worker to stop, which it cannot while inside SQLite.
  const orphaned = () => {
    if (!answered) process.kill(process.pid, 'SIGKILL');
  };
  process.once('disconnect', orphaned);
  // A parent gone while this module was still loading (an ES module loads with the event loop
  // running) was seen then, with nobody listening.
  if (!process.connected) orphaned();
  const answer = (outcome: Outcome) => {
    if (answered) return;
    answered = true;
    process.send?.(outcome, () => process.disconnect());
  };
  const worker = new Worker(new URL(import.meta.url), { workerData: process.argv[2] ?? '' });
  worker.once('message', answer);
  // The worker could not run at all (a module that does not load): that is the check's failure.
  worker.once('error', (error) => answer({ error: { message: error.message } }));
} else {
  parentPort?.postMessage(await inspect(String(workerData)));
}
