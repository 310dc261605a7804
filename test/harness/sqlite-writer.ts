/**
 * A separate process that writes to a SQLite database, as an application would while a backup
 * runs. Usage: node sqlite-writer.js <db> insert   (one small transaction after another until killed)
 *              node sqlite-writer.js <db> lock <ms> (holds an exclusive lock for <ms>, then commits)
 *              node sqlite-writer.js <db> acked     (inserts `acked <n>` every 10 ms, one transaction
 *                                                    each, and prints `acked <n>` once SQLite committed
 *                                                    it, or `busy <n>` when it was refused)
 * Prints "ready" on stdout once it has written (or locked) for the first time.
 */
import Database from 'better-sqlite3';

const [path, mode, arg] = process.argv.slice(2);
if (!path || !mode) throw new Error('usage: sqlite-writer <db> insert|lock <ms>');
const db = new Database(path);
db.pragma('busy_timeout = 10000');

if (mode === 'lock') {
  db.exec('BEGIN EXCLUSIVE');
  db.exec("INSERT INTO writes (note) VALUES ('locked')");
  process.stdout.write('ready\n');
  setTimeout(
    () => {
      db.exec('COMMIT');
      db.close();
    },
    Number(arg ?? 1000),
  );
} else if (mode === 'acked') {
  // A short wait, as an application gives up on a lock after a while: a refused write is not acknowledged.
  db.pragma('busy_timeout = 200');
  const insert = db.prepare('INSERT INTO writes (note) VALUES (?)');
  let n = 0;
  let ready = false;
  setInterval(() => {
    n++;
    try {
      insert.run(`acked ${n}`);
      process.stdout.write(`${ready ? '' : 'ready\n'}acked ${n}\n`);
      ready = true;
    } catch (error) {
      process.stdout.write(`busy ${n} ${(error as { code?: string }).code}\n`);
    }
  }, 10);
} else {
  const insert = db.prepare('INSERT INTO writes (note) VALUES (?)');
  let n = 0;
  const tick = () => {
    for (let i = 0; i < 20; i++) insert.run(`write ${n++}`);
    if (n === 20) process.stdout.write('ready\n');
    setImmediate(tick);
  };
  tick();
}
