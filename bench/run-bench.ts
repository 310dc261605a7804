/**
 * `npm run bench [-- --size-mb 1000 --sqlite-mb 300 --skip-sqlite --skip-postgres --only-restore]`
 *
 * Measures dbbackup against baselines taken in the same run, on a PostgreSQL database of
 * realistic, not trivially compressible data (mixed JSON and random text), and on a SQLite
 * database with and without a concurrent writer. Prints wall time, throughput, stored size
 * and the dbbackup process's peak RSS, with ratios to the floor (`pg_dump -Fc -Z0 > /dev/null`)
 * and to the hand-written pipeline (`pg_dump -Fc | gzip | sha256sum`).
 *
 * The restore case measures `dbbackup restore` from a directory target (one streaming pass: read,
 * SHA-256, gunzip, pg_restore into a new database, row counts, swap) against the floor of
 * `pg_restore --single-transaction` of the same custom dump from a local file into a new database,
 * and the restore's peak RSS for the database and its quarter (flat memory). `--only-restore` runs
 * only that case (with `--size-mb` to choose the database's size).
 *
 * Every run is repeated (--repeat, default 3) and the median wall time is reported; peak RSS is
 * the largest seen. s3rver runs inside this process and takes CPU from the same 2 cores, so S3 rows are a
 * pessimistic bound for real S3.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startPostgresCluster } from '../test/harness/postgres-cluster.js';
import { S3RVER_CREDENTIALS, startS3Server } from '../test/harness/s3-server.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1000' },
    'sqlite-mb': { type: 'string', default: '300' },
    'skip-sqlite': { type: 'boolean', default: false },
    'skip-postgres': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    'only-restore': { type: 'boolean', default: false },
  },
});
const repeat = Math.max(1, Number(args.repeat));
const sizeMb = Number(args['size-mb']);
const sqliteMb = Number(args['sqlite-mb']);
const repo = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
const cliPath = join(repo, 'bin/dbbackup.js');

interface Measurement {
  readonly name: string;
  readonly seconds: number;
  readonly storedBytes?: number;
  readonly peakRssMb?: number;
}

/** Runs a command `repeat` times; reports the median wall time and the largest peak RSS. */
async function measure(
  name: string,
  command: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  rss = false,
): Promise<Measurement & { stdout: string }> {
  const runs = [];
  for (let i = 0; i < repeat; i++) runs.push(await measureOnce(name, command, argv, env, rss));
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  const median = sorted[Math.floor(sorted.length / 2)] as (typeof runs)[number];
  const peak = Math.max(...runs.map((r) => r.peakRssMb ?? 0));
  return { ...median, peakRssMb: rss ? peak : undefined };
}

/** Runs a command once, timing it and sampling the peak RSS (VmHWM) of the process itself. */
async function measureOnce(
  name: string,
  command: string,
  argv: string[],
  env: NodeJS.ProcessEnv,
  rss = false,
): Promise<Measurement & { stdout: string }> {
  const started = process.hrtime.bigint();
  const child: ChildProcess = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c) => {
    stdout += c;
  });
  child.stderr?.on('data', (c) => {
    stderr += c;
  });
  let peakKb = 0;
  const sample = () => {
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {}
  };
  const timer = rss ? setInterval(sample, 20) : undefined;
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  if (timer) clearInterval(timer);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`${name} failed (${code}): ${stderr}`);
  return { name, seconds, stdout, peakRssMb: rss ? peakKb / 1024 : undefined };
}

function table(rows: Measurement[], floor: Measurement | undefined, hand: Measurement | undefined, sourceBytes: number): void {
  const header = ['run', 'wall s', 'MB/s', 'stored MB', 'peak RSS MB', '× floor', '× hand', 'size vs hand'];
  const lines = rows.map((r) => [
    r.name,
    r.seconds.toFixed(2),
    (sourceBytes / 1e6 / r.seconds).toFixed(0),
    r.storedBytes ? (r.storedBytes / 1e6).toFixed(1) : '-',
    r.peakRssMb ? r.peakRssMb.toFixed(0) : '-',
    floor ? (r.seconds / floor.seconds).toFixed(2) : '-',
    hand ? (r.seconds / hand.seconds).toFixed(2) : '-',
    hand?.storedBytes && r.storedBytes ? `${((r.storedBytes / hand.storedBytes - 1) * 100).toFixed(1)}%` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(fmt(header));
  for (const l of lines) console.log(fmt(l));
}

async function buildPostgres(url: string, megabytes: number): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  // About 380 bytes on disk per row: JSON with repeated keys and varying values, words, hex ids.
  const rows = Math.round((megabytes * 1e6) / 380);
  // A small inlined SQL function, not a table of words: looking words up per row dominated the build.
  await client.query(`
    create or replace function w(i bigint) returns text language sql immutable as $$
      select (array['alpha','school','student','teacher','grade','course','room','payment','invoice','parent',
        'attendance','schedule','exam','result','library','book','sport','music','report','holiday'])[1 + (i % 20)::int] || '_' || (i % 2000)
    $$;
    create table events (id bigserial primary key, created timestamptz, user_id int, kind text, payload jsonb, note text);`);
  const batch = 250_000;
  for (let done = 0; done < rows; done += batch) {
    const n = Math.min(batch, rows - done);
    await client.query(`
      insert into events (created, user_id, kind, payload, note)
      select now() - (random() * interval '900 days'), (random() * 50000)::int, w(g * 7),
             jsonb_build_object('student', (random() * 90000)::int, 'score', round((random() * 100)::numeric, 2),
                                'tags', jsonb_build_array(md5(random()::text), (random() * 1000)::int),
                                'comment', w(g * 13) || ' ' || w(g * 17) || ' ' || w(g * 31)),
             md5(random()::text) || ' ' || w(g) || ' ' || w(g * 3) || case when g % 3 = 0 then ' ' || w(g * 5) || ' ' || w(g * 11) else '' end
      from generate_series(${done + 1}, ${done + n}) g`);
    process.stderr.write(`\r  building: ${Math.min(done + n, rows)} / ${rows} rows`);
  }
  process.stderr.write('\n');
  await client.query('vacuum analyze events');
  const { rows: size } = await client.query<{ s: string }>('select pg_database_size(current_database())::text as s');
  await client.end();
  return Number(size[0]?.s);
}

async function postgresBench(): Promise<void> {
  const [cluster, s3] = await Promise.all([startPostgresCluster(), startS3Server()]);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL_S3: s3.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const work = await fs.mkdtemp(join(tmpdir(), 'dbbackup-bench-'));
  try {
    const s3client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
    await s3client.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query('create database bench');
    await admin.query('create database bench_quarter');
    await admin.end();
    const url = (db: string) => cluster.url.replace(/\/postgres$/, `/${db}`);
    console.log(`building a PostgreSQL database of about ${sizeMb} MB (and one of ${sizeMb / 4} MB)…`);
    const dbBytes = await buildPostgres(url('bench'), sizeMb);
    const quarterBytes = await buildPostgres(url('bench_quarter'), sizeMb / 4);
    const pgDump = join(cluster.binDir, 'pg_dump');
    const pgEnv = { ...env, PGPASSWORD: cluster.password };
    const noPw = (db: string) => url(db).replace(`:${cluster.password}@`, '@');
    if (args['only-restore']) {
      await restoreBench({ cluster, env, pgEnv, url, noPw, work, dbBytes, quarterBytes });
      return;
    }

    const sh = (name: string, script: string) => measure(name, 'bash', ['-o', 'pipefail', '-c', script], pgEnv);
    const floor = await sh('floor: pg_dump -Fc -Z0 > /dev/null', `'${pgDump}' -Fc -Z0 -d '${noPw('bench')}' > /dev/null`);
    const dumpBytes = Number((await sh('size', `'${pgDump}' -Fc -Z0 -d '${noPw('bench')}' | wc -c`)).stdout.trim());
    const handRun = await sh(
      'hand: pg_dump -Fc | gzip | sha256sum',
      `'${pgDump}' -Fc -d '${noPw('bench')}' | gzip | tee >(wc -c > ${work}/hand.size) | sha256sum > /dev/null`,
    );
    const hand = { ...handRun, storedBytes: Number((await fs.readFile(`${work}/hand.size`, 'utf8')).trim()) };
    const zstdRun = await sh(
      'ref: pg_dump -Fc -Z0 | zstd -T0 -3',
      `'${pgDump}' -Fc -Z0 -d '${noPw('bench')}' | zstd -q -T0 -3 | tee >(wc -c > ${work}/zstd.size) | sha256sum > /dev/null`,
    );
    const zstdRef = { ...zstdRun, storedBytes: Number((await fs.readFile(`${work}/zstd.size`, 'utf8')).trim()) };

    const rows: Measurement[] = [floor, hand, zstdRef];
    let n = 0;
    const dbbackup = async (label: string, target: string, extra: string[], db = 'bench') => {
      const out = await measure(
        label,
        process.execPath,
        [cliPath, 'backup', '--source', url(db), '--target', target, '--json', ...extra],
        env,
        true,
      );
      const manifest = JSON.parse(out.stdout) as { size_bytes: number };
      return { ...out, storedBytes: manifest.size_bytes };
    };
    for (const compression of ['gzip', 'zstd', 'none']) {
      rows.push(await dbbackup(`dbbackup ${compression} → directory`, join(work, `dir${n++}`), ['--compression', compression]));
    }
    for (const compression of ['gzip', 'zstd']) {
      rows.push(await dbbackup(`dbbackup ${compression} → s3rver`, `s3://bench/run${n++}`, ['--compression', compression]));
    }
    console.log(
      `\nPostgreSQL: database ${(dbBytes / 1e6).toFixed(0)} MB on disk, dump (-Fc -Z0) ${(dumpBytes / 1e6).toFixed(0)} MB`,
    );
    table(rows, floor, hand, dumpBytes);

    const quarter = await dbbackup('dbbackup gzip → directory, 1/4 size', join(work, 'quarter'), [], 'bench_quarter');
    const full = rows.find((r) => r.name === 'dbbackup gzip → directory');
    console.log(
      `\nPeak RSS as the database grows: ${(quarterBytes / 1e6).toFixed(0)} MB → ${quarter.peakRssMb?.toFixed(0)} MB RSS; ` +
        `${(dbBytes / 1e6).toFixed(0)} MB → ${full?.peakRssMb?.toFixed(0)} MB RSS (×${((full?.peakRssMb ?? 0) / (quarter.peakRssMb ?? 1)).toFixed(2)} for ×${(dbBytes / quarterBytes).toFixed(1)} data)`,
    );
    await restoreBench({ cluster, env, pgEnv, url, noPw, work, dbBytes, quarterBytes });
  } finally {
    await Promise.all([cluster.stop(), s3.stop()]);
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** The target a restore's time is held to: this many times the bare pg_restore --single-transaction. */
const RESTORE_TARGET_RATIO = 1.2;

/**
 * `dbbackup restore` from a directory target into a new database against `pg_restore
 * --single-transaction` of the same custom dump, decompressed into a local file, into a new
 * database: both in this run, each repeated, medians compared. Then the restore's peak RSS for the
 * database and for its quarter.
 */
async function restoreBench(setup: {
  cluster: Awaited<ReturnType<typeof startPostgresCluster>>;
  env: NodeJS.ProcessEnv;
  pgEnv: NodeJS.ProcessEnv;
  url: (db: string) => string;
  noPw: (db: string) => string;
  work: string;
  dbBytes: number;
  quarterBytes: number;
}): Promise<void> {
  const { cluster, env, pgEnv, url, noPw, work, dbBytes, quarterBytes } = setup;
  const backupOf = async (db: string) => {
    const out = await measureOnce(
      `backup ${db}`,
      process.execPath,
      [cliPath, 'backup', '--source', url(db), '--target', join(work, `restore-from-${db}`), '--json'],
      env,
    );
    return JSON.parse(out.stdout) as { location: string; size_bytes: number };
  };
  const full = await backupOf('bench');
  const quarter = await backupOf('bench_quarter');
  const dumpFile = join(work, 'bench.dump');
  await measureOnce('decompress', 'bash', ['-o', 'pipefail', '-c', `gzip -dc '${full.location}' > '${dumpFile}'`], env);
  const dumpBytes = (await fs.stat(dumpFile)).size;

  const pgRestore = join(cluster.binDir, 'pg_restore');
  const admin = new pg.Client({ connectionString: cluster.url });
  await admin.connect();
  let n = 0;
  const drop = (name: string) => admin.query(`drop database if exists ${name} with (force)`);
  const median = (runs: Measurement[]) =>
    [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)] as Measurement;
  try {
    const floorRuns: Measurement[] = [];
    const restoreRuns: Measurement[] = [];
    for (let i = 0; i < repeat; i++) {
      // Alternated, so that a busy moment of the machine falls on both alike.
      // Creating the new database is counted on both sides: dbbackup's restore creates its own.
      const bare = `restored_${n++}`;
      floorRuns.push(
        await measureOnce(
          'floor: create database; pg_restore --single-transaction (local file)',
          'bash',
          [
            '-o',
            'pipefail',
            '-c',
            `'${join(cluster.binDir, 'psql')}' -q -X -d '${noPw('postgres')}' -c 'create database ${bare}' && ` +
              `'${pgRestore}' --single-transaction --exit-on-error --no-owner -d '${noPw(bare)}' '${dumpFile}'`,
          ],
          pgEnv,
        ),
      );
      await drop(bare);
      // Into a database that does not exist yet: the new one is created, filled, counted, renamed.
      const into = `restored_${n++}`;
      restoreRuns.push(
        await measureOnce(
          'dbbackup restore ← directory',
          process.execPath,
          [cliPath, 'restore', '--path', full.location, '--to', url(into), '--confirm', into, '--no-safety-backup'],
          env,
          true,
        ),
      );
      await drop(into);
    }
    const floor = median(floorRuns);
    const restore = { ...median(restoreRuns), peakRssMb: Math.max(...restoreRuns.map((r) => r.peakRssMb ?? 0)) };
    const into = `restored_${n++}`;
    const small = await measureOnce(
      'dbbackup restore ← directory, 1/4 size',
      process.execPath,
      [cliPath, 'restore', '--path', quarter.location, '--to', url(into), '--confirm', into, '--no-safety-backup'],
      env,
      true,
    );
    await drop(into);
    console.log(
      `\nPostgreSQL restore: database ${(dbBytes / 1e6).toFixed(0)} MB on disk, custom dump ${(dumpBytes / 1e6).toFixed(0)} MB, stored (gzip) ${(full.size_bytes / 1e6).toFixed(0)} MB`,
    );
    table([floor, restore], floor, undefined, dumpBytes);
    const ratio = restore.seconds / floor.seconds;
    console.log(
      `restore ÷ bare pg_restore --single-transaction: ${ratio.toFixed(2)} (target ≤ ${RESTORE_TARGET_RATIO}: ${ratio <= RESTORE_TARGET_RATIO ? 'met' : 'NOT met'})`,
    );
    console.log(
      `Restore peak RSS as the database grows: ${(quarterBytes / 1e6).toFixed(0)} MB → ${small.peakRssMb?.toFixed(0)} MB RSS; ` +
        `${(dbBytes / 1e6).toFixed(0)} MB → ${restore.peakRssMb?.toFixed(0)} MB RSS`,
    );
  } finally {
    await admin.end();
  }
}

async function sqliteBench(): Promise<void> {
  const work = await fs.mkdtemp(join(tmpdir(), 'dbbackup-bench-sqlite-'));
  try {
    const path = join(work, 'app.db');
    const db = new Database(path);
    db.exec(
      'create table payload (id integer primary key, label text, data blob); create table writes (id integer primary key, note text)',
    );
    const rows = Math.round((sqliteMb * 1e6) / 1100);
    db.prepare(
      `with recursive c(x) as (select 1 union all select x + 1 from c where x < ?)
       insert into payload (label, data) select 'row ' || x || ' ' || hex(randomblob(150)) || ' student grade course', randomblob(700) from c`,
    ).run(rows);
    db.close();
    const bytes = (await fs.stat(path)).size;
    const rowsOut: Measurement[] = [];
    const run = async (label: string) => {
      const out = await measure(
        label,
        process.execPath,
        [cliPath, 'backup', '--source', path, '--target', join(work, 'out'), '--json'],
        process.env,
        true,
      );
      rowsOut.push({ ...out, storedBytes: (JSON.parse(out.stdout) as { size_bytes: number }).size_bytes });
    };
    await run('dbbackup gzip, idle database');
    const writer = spawn(process.execPath, [join(repo, 'dist/test/harness/sqlite-writer.js'), path, 'insert'], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 500));
    try {
      await run('dbbackup gzip, concurrent writer');
    } finally {
      writer.kill();
    }
    console.log(`\nSQLite: database ${(bytes / 1e6).toFixed(0)} MB`);
    table(rowsOut, undefined, undefined, bytes);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

if (!args['skip-postgres']) await postgresBench();
if (!args['skip-sqlite']) await sqliteBench();
