/**
 * `npm run bench [-- --size-mb 1000 --sqlite-mb 300 --data-sets mixed,text --repeat 3 --json-out FILE
 *                    --skip-sqlite --skip-postgres]`
 *
 * Measures dbbackup against baselines taken in the same run on the same data, and holds each path
 * to its target as a ratio (README, Performance), for two PostgreSQL data sets: `mixed` (JSON with
 * repeated keys, words and hex ids: not trivially compressible) and `text` (natural-language text
 * from a word list, JSON documents, numeric columns; deterministic, from a fixed seed). Per data set:
 *
 * - backup: the floor `pg_dump -Fc -Z0 > /dev/null`; dbbackup gzip within 1.3× of it and its stored
 *   size within +10% of `gzip -6` of the same dump; zstd within 1.1×; none and S3 (s3rver) shown;
 * - verify within 1.2× of `<decompressor> | sha256sum` of the same stored file;
 * - restore within 1.2× of bare `pg_restore --single-transaction` of the same dump from a local file;
 * - peak RSS under 200 MB on every dbbackup path, and flat (at most +10%) for a database 4× larger.
 *
 * And SQLite (a few hundred MB) backup within 1.5× of `sqlite3 .backup` + the same compressor, idle
 * and under a writer. One table is printed and written as JSON (--json-out, default
 * bench/results.json); `npm run bench:readme` puts it in the README.
 *
 * Every run is repeated (--repeat, default 3) and the median wall time is reported; peak RSS is
 * the largest seen (of the dbbackup process; igzip and zstd children are a few MB). A path and its
 * baseline run in turn, round after round, and a ratio is the median of the rounds' ratios: on a
 * shared machine whose speed drifts by a quarter from one minute to the next, a ratio of two
 * medians taken minutes apart said more about the minute than the path. s3rver runs inside this
 * process and takes CPU from the same cores, so S3 rows are a pessimistic bound.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import pg from 'pg';
import { COMPRESSION_LEVELS } from '../shared/compression/compression.js';
import { startPostgresCluster } from '../test/harness/postgres-cluster.js';
import { S3RVER_CREDENTIALS, startS3Server } from '../test/harness/s3-server.js';
import { type BenchResults, type BenchRow, formatText } from './bench-table.js';

const HELP = `run-bench.js [--size-mb N] [--sqlite-mb N] [--data-sets mixed,text] [--repeat N] [--json-out FILE]
             [--skip-postgres] [--skip-sqlite]`;

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values: args } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '1000' },
    'sqlite-mb': { type: 'string', default: '300' },
    'data-sets': { type: 'string', default: 'mixed,text' },
    'skip-sqlite': { type: 'boolean', default: false },
    'skip-postgres': { type: 'boolean', default: false },
    repeat: { type: 'string', default: '3' },
    'json-out': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
const repeat = Math.max(1, Number(args.repeat));
const sizeMb = Number(args['size-mb']);
const sqliteMb = Number(args['sqlite-mb']);
const repo = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
const cliPath = join(repo, 'bin/dbbackup.js');
const jsonOut = args['json-out'] ?? join(repo, 'bench/results.json');
if (args.help) {
  console.log(HELP);
  process.exit(0);
}

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

/** Every row of the run, in order: printed as one table at the end and written as JSON. */
const rows: BenchRow[] = [];
/** Peak RSS every dbbackup path stays under. */
const RSS_LIMIT_MB = 200;
/** Peak RSS for a database 4× larger: at most this many times the smaller one's. */
const RSS_GROWTH_TARGET = 1.1;
const TARGETS = { gzipBackup: 1.3, gzipSize: 1.1, zstdBackup: 1.1, verify: 1.2, restore: 1.2, sqlite: 1.5 };

/** The gzip reader dbbackup itself uses: igzip when installed, as in the image. */
const gunzipCommand = (await hasProgram('igzip')) ? 'igzip -d -c' : 'gzip -d -c';
/** The gzip writer dbbackup uses at its default level 5 (igzip -2, else zlib 5). */
const gzipCommand = (await hasProgram('igzip')) ? 'igzip -c -2' : 'gzip -c -5';

async function hasProgram(name: string): Promise<boolean> {
  const child = spawn('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('close', (code) => resolve(code === 0)));
}

/** A backup's measurement with what its manifest (`--json` on stdout) says: stored size, implementation. */
function withManifest<M extends Measurement & { stdout: string }>(out: M) {
  const manifest = JSON.parse(out.stdout) as { size_bytes: number; compression_implementation?: string };
  return { ...out, storedBytes: manifest.size_bytes, implementation: manifest.compression_implementation };
}

const median = (runs: Measurement[]) =>
  [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)] as Measurement;

/** The median of the rounds' ratios, `runs[i]` to `baseline[i]`: each pair measured side by side. */
function pairedRatio(runs: readonly Measurement[], baseline: readonly Measurement[]): number {
  const ratios = runs.map((r, i) => r.seconds / (baseline[i] as Measurement).seconds).sort((a, b) => a - b);
  const middle = ratios.length / 2;
  return ratios.length % 2 === 1
    ? (ratios[Math.floor(middle)] as number)
    : ((ratios[middle - 1] as number) + (ratios[middle] as number)) / 2;
}

/** Runs `baseline` and `path` in turn, `repeat` rounds: a busy moment of the machine falls on both alike. */
async function inTurn<B extends Measurement, P extends Measurement>(
  baseline: () => Promise<B>,
  path: () => Promise<P>,
): Promise<{ baseline: B[]; path: P[] }> {
  const out = { baseline: [] as B[], path: [] as P[] };
  for (let i = 0; i < repeat; i++) {
    out.baseline.push(await baseline());
    out.path.push(await path());
  }
  return out;
}

/**
 * `mixed`: about 380 bytes on disk per row: JSON with repeated keys and varying values, words,
 * md5 hex ids. From a fixed seed (setseed), so every run builds the same rows.
 */
async function buildMixed(client: pg.Client, megabytes: number): Promise<void> {
  const rows = Math.round((megabytes * 1e6) / 380);
  // A small inlined SQL function, not a table of words: looking words up per row dominated the build.
  await client.query(`
    create or replace function w(i bigint) returns text language sql immutable as $$
      select (array['alpha','school','student','teacher','grade','course','room','payment','invoice','parent',
        'attendance','schedule','exam','result','library','book','sport','music','report','holiday'])[1 + (i % 20)::int] || '_' || (i % 2000)
    $$;
    create table events (id bigserial primary key, created timestamptz, user_id int, kind text, payload jsonb, note text);
    select setseed(0.42);`);
  await inBatches(rows, (from, to) =>
    client.query(`
      insert into events (created, user_id, kind, payload, note)
      select timestamptz '2026-01-01' - (random() * interval '900 days'), (random() * 50000)::int, w(g * 7),
             jsonb_build_object('student', (random() * 90000)::int, 'score', round((random() * 100)::numeric, 2),
                                'tags', jsonb_build_array(md5(random()::text), (random() * 1000)::int),
                                'comment', w(g * 13) || ' ' || w(g * 17) || ' ' || w(g * 31)),
             md5(random()::text) || ' ' || w(g) || ' ' || w(g * 3) || case when g % 3 = 0 then ' ' || w(g * 5) || ' ' || w(g * 11) else '' end
      from generate_series(${from}, ${to}) g`),
  );
}

/**
 * `text`: articles of natural-language text (words of a fixed list, common ones far more often,
 * as in prose), a JSON document with the same keys on every row, dates and numeric columns. About
 * 900 bytes on disk per row; every value a hash of the row number, so every run builds the same.
 */
async function buildText(client: pg.Client, megabytes: number): Promise<void> {
  const rows = Math.round((megabytes * 1e6) / 900);
  const words = `the of and to a in is that for it as was with be by on not he this are or his from at which
    but have an they you were her she there one all we their has been would when if more no out so said what up its
    about than into them can only other new some could time these two may then do first any my now such like our
    over man me even most made after also did many before must through back years where much your way well down
    should because each just those people how too little state good very make world still own see men work long
    get here between both life being under never day same another know while last might us great old year off
    come since against go came right used take three school student teacher record payment morning city river
    garden letter market music history window question answer country family winter summer evening report`
    .split(/\s+/)
    .filter(Boolean);
  await client.query(`
    create or replace function tw(i bigint) returns text language sql immutable as $$
      select (array[${words.map((w) => `'${w}'`).join(',')}])[1 + floor(${words.length} * power((abs(hashint8(i)) % 1000003) / 1000003.0, 3))::int]
    $$;
    create or replace function sentence(seed bigint, n int) returns text language sql immutable as $$
      select initcap(tw(seed * 97)) || ' ' || string_agg(tw(seed * 97 + k), ' ') || '.' from generate_series(1, n) k
    $$;
    create table articles (id bigserial primary key, published date, author_id int, views bigint, rating numeric(4, 2),
      price numeric(10, 2), title text, body text, meta jsonb);`);
  await inBatches(rows, (from, to) =>
    client.query(`
      insert into articles (published, author_id, views, rating, price, title, body, meta)
      select date '2020-01-01' + (abs(hashint8(g * 3)) % 2000)::int, (abs(hashint8(g * 5)) % 5000)::int,
             abs(hashint8(g * 7)) % 1000000, (abs(hashint8(g * 11)) % 500) / 100.0, (abs(hashint8(g * 13)) % 100000) / 100.0,
             sentence(g, 5 + (g % 4)::int),
             sentence(g * 2, 12 + (g % 9)::int) || ' ' || sentence(g * 2 + 1, 8 + (g % 13)::int) || ' ' ||
               sentence(g * 2 + 2, 15 + (g % 7)::int) || ' ' || sentence(g * 2 + 3, 10 + (g % 11)::int),
             jsonb_build_object('author', jsonb_build_object('id', (abs(hashint8(g * 5)) % 5000)::int, 'name', initcap(tw(g * 17)) || ' ' || initcap(tw(g * 19))),
                                'section', tw(g % 50), 'tags', jsonb_build_array(tw(g * 23), tw(g * 29), tw(g * 31)),
                                'reading_minutes', (g % 30)::int, 'language', 'en', 'published', true)
      from generate_series(${from}, ${to}) g`),
  );
}

async function inBatches(rows: number, insert: (from: number, to: number) => Promise<unknown>): Promise<void> {
  const batch = 100_000;
  for (let done = 0; done < rows; done += batch) {
    await insert(done + 1, Math.min(done + batch, rows));
    process.stderr.write(`\r  building: ${Math.min(done + batch, rows)} / ${rows} rows`);
  }
  process.stderr.write('\n');
}

const DATA_SETS: Record<string, (client: pg.Client, megabytes: number) => Promise<void>> = {
  mixed: buildMixed,
  text: buildText,
};

async function buildDatabase(url: string, dataSet: string, megabytes: number): Promise<number> {
  const build = DATA_SETS[dataSet];
  if (!build) throw new Error(`--data-sets: no data set "${dataSet}" (known: ${Object.keys(DATA_SETS).join(', ')})`);
  const client = new pg.Client({ connectionString: url });
  // Without a listener, a session ended by the server while idle ('error' event) kills the whole bench.
  client.on('error', () => {});
  await client.connect();
  try {
    await build(client, megabytes);
    await client.query('vacuum analyze');
    // Flush what building dirtied now, not during the first measured runs (which it slowed by a third).
    await client.query('checkpoint');
    const { rows: size } = await client.query<{ s: string }>('select pg_database_size(current_database())::text as s');
    return Number(size[0]?.s);
  } finally {
    await client.end();
  }
}

type Cluster = Awaited<ReturnType<typeof startPostgresCluster>>;

/** What every PostgreSQL measurement of a run shares. */
interface PgRun {
  readonly cluster: Cluster;
  readonly env: NodeJS.ProcessEnv;
  readonly pgEnv: NodeJS.ProcessEnv;
  readonly url: (db: string) => string;
  /** The URL without its password (libpq takes it from PGPASSWORD), for shell command lines. */
  readonly noPw: (db: string) => string;
  readonly work: string;
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
    const url = (db: string) => cluster.url.replace(/\/postgres$/, `/${db}`);
    const run: PgRun = {
      cluster,
      env,
      pgEnv: { ...env, PGPASSWORD: cluster.password },
      url,
      noPw: (db) => url(db).replace(`:${cluster.password}@`, '@'),
      work,
    };
    await fixedCostBench(run);
    for (const dataSet of (args['data-sets'] ?? '').split(',').filter(Boolean)) {
      try {
        await dataSetBench(run, dataSet);
      } catch (error) {
        // One data set failing (a session ended under the bench, a command that failed) is reported
        // as a row naming the last row measured, and the other data sets still run.
        const last = rows.filter((r) => r.dataSet === dataSet).at(-1)?.path ?? 'the start';
        const message = (error as Error).message.split('\n')[0] ?? String(error);
        rows.push({ dataSet, path: `FAILED after "${last}"`, note: message });
        console.log(`  ${dataSet}: FAILED after "${last}": ${message}`);
        process.exitCode = 1;
      }
    }
  } finally {
    await Promise.all([cluster.stop(), s3.stop()]);
    await fs.rm(work, { recursive: true, force: true });
  }
}

/**
 * What a backup costs before and after its data moves (Node's start, the probe, the manifest,
 * the run record, the fsyncs), from a database of one row: on the few-hundred-MB data sets it is
 * a fixed part of every ratio to the floor, and it does not grow with the database.
 */
async function fixedCostBench(run: PgRun): Promise<void> {
  const { cluster, env, pgEnv, url, noPw, work } = run;
  const admin = new pg.Client({ connectionString: cluster.url });
  admin.on('error', () => {});
  await admin.connect();
  try {
    await admin.query('create database bench_tiny');
  } finally {
    await admin.end();
  }
  const tiny = new pg.Client({ connectionString: url('bench_tiny') });
  tiny.on('error', () => {});
  await tiny.connect();
  await tiny.query('create table t as select 1 as x').finally(() => tiny.end());
  const pgDump = join(cluster.binDir, 'pg_dump');
  const dump = await measure('tiny pg_dump', 'bash', ['-c', `'${pgDump}' -Fc -Z0 -d '${noPw('bench_tiny')}' > /dev/null`], pgEnv);
  const backup = await measure(
    'tiny backup',
    process.execPath,
    [cliPath, 'backup', '--source', url('bench_tiny'), '--target', join(work, 'tiny'), '--json'],
    env,
    true,
  );
  rows.push({
    dataSet: 'fixed',
    path: 'dbbackup backup gzip → directory, a database of one row',
    seconds: backup.seconds,
    baseline: `pg_dump of it (${dump.seconds.toFixed(2)} s)`,
    note: `${(backup.seconds - dump.seconds).toFixed(2)} s of every backup is dbbackup's own, whatever the size`,
    peakRssMb: backup.peakRssMb,
  });
  console.log(`  fixed: dbbackup backup of one row ${backup.seconds.toFixed(2)} s, pg_dump ${dump.seconds.toFixed(2)} s`);
}

/** Every PostgreSQL row of one data set: backup, stored size, verify, restore, memory growth. */
async function dataSetBench(run: PgRun, dataSet: string): Promise<void> {
  const { cluster, env, pgEnv, url, noPw, work } = run;
  const admin = new pg.Client({ connectionString: cluster.url });
  // The admin session sits idle through the long measurements: if the server ends it then (a
  // terminated backend, a shutdown), its next query fails and this data set reports a FAILED row,
  // where an 'error' event with no listener would kill the bench before it wrote any results.
  admin.on('error', (error) => console.log(`  ${dataSet}: the bench's admin session ended: ${error.message}`));
  await admin.connect();
  const full = `bench_${dataSet}`;
  const quarter = `bench_${dataSet}_quarter`;
  await admin.query(`create database ${full}`);
  await admin.query(`create database ${quarter}`);
  console.log(`building the "${dataSet}" data set: a database of about ${sizeMb} MB and one of ${sizeMb / 4} MB…`);
  const dbBytes = await buildDatabase(url(full), dataSet, sizeMb);
  const quarterBytes = await buildDatabase(url(quarter), dataSet, sizeMb / 4);
  const pgDump = join(cluster.binDir, 'pg_dump');
  const sh = (name: string, script: string) => measure(name, 'bash', ['-o', 'pipefail', '-c', script], pgEnv);
  const sized = async (name: string, pipe: string, db = full) => {
    const sizeFile = join(work, `${dataSet}-${Math.random().toString(36).slice(2)}.size`);
    const out = await sh(
      name,
      `'${pgDump}' -Fc -Z0 -d '${noPw(db)}' | ${pipe} | tee >(wc -c > '${sizeFile}') | sha256sum > /dev/null`,
    );
    return { ...out, storedBytes: Number((await fs.readFile(sizeFile, 'utf8')).trim()) };
  };
  const row = (r: Omit<BenchRow, 'dataSet'>) => {
    rows.push({ dataSet, ...r });
    console.log(`  ${dataSet}: ${r.path}${r.seconds !== undefined ? ` ${r.seconds.toFixed(2)} s` : ''}`);
  };

  const floorName = 'pg_dump -Fc -Z0 > /dev/null';
  const dirs: Record<string, string> = {};
  const dbbackupArgs = (target: string, extra: string[], db = full) => [
    cliPath,
    'backup',
    '--source',
    url(db),
    '--target',
    target,
    '--json',
    ...extra,
  ];
  // The floor and the three backups to a directory in rounds (floor, gzip, zstd, none; again): a
  // busy moment of the machine, or its caches warming, falls on the floor and the paths alike, so
  // their ratios hold where their times drift (measured once each in turn, the floor alone moved by 45%).
  // Beside them, the same dump through the same compressor by hand (`pg_dump | zstd | sha256sum`):
  // what the compressor costs on these cores whoever runs it, so that a ratio to the floor tells
  // the compressor's share from dbbackup's own.
  const compressions = ['gzip', 'zstd', 'none'] as const;
  const byHand: Record<'gzip' | 'zstd', string> = {
    gzip: gzipCommand,
    zstd: `zstd -q -c -T0 -${COMPRESSION_LEVELS.zstd?.default}`,
  };
  const floorRuns: Measurement[] = [];
  const handRuns: Record<'gzip' | 'zstd', Measurement[]> = { gzip: [], zstd: [] };
  const backupRuns = Object.fromEntries(compressions.map((c) => [c, [] as Array<Measurement & { stdout: string }>]));
  for (const c of compressions) dirs[c] = join(work, `${dataSet}-${c}`);
  for (let i = 0; i < repeat; i++) {
    floorRuns.push(
      await measureOnce(floorName, 'bash', ['-o', 'pipefail', '-c', `'${pgDump}' -Fc -Z0 -d '${noPw(full)}' > /dev/null`], pgEnv),
    );
    for (const c of ['gzip', 'zstd'] as const)
      handRuns[c].push(
        await measureOnce(
          `by hand ${c}`,
          'bash',
          ['-o', 'pipefail', '-c', `'${pgDump}' -Fc -Z0 -d '${noPw(full)}' | ${byHand[c]} | sha256sum > /dev/null`],
          pgEnv,
        ),
      );
    for (const c of compressions)
      backupRuns[c]?.push(
        await measureOnce(`backup ${c}`, process.execPath, dbbackupArgs(dirs[c] as string, ['--compression', c]), env, true),
      );
  }
  const floor = median(floorRuns);
  const hand = { gzip: median(handRuns.gzip), zstd: median(handRuns.zstd) };
  const dumpBytes = Number((await sh('size', `'${pgDump}' -Fc -Z0 -d '${noPw(full)}' | wc -c`)).stdout.trim());
  row({
    path: `floor: ${floorName}`,
    seconds: floor.seconds,
    storedBytes: dumpBytes,
    note: `database ${(dbBytes / 1e6).toFixed(0)} MB, dump ${(dumpBytes / 1e6).toFixed(0)} MB`,
  });
  const gzip6 = await sized('pg_dump -Fc -Z0 | gzip -6 | sha256sum', 'gzip -6');
  row({
    path: 'ref: pg_dump -Fc -Z0 | gzip -6',
    seconds: gzip6.seconds,
    baseline: 'floor',
    ratio: gzip6.seconds / floor.seconds,
    storedBytes: gzip6.storedBytes,
  });

  const dbbackup = async (label: string, target: string, extra: string[], db = full) =>
    withManifest(await measure(label, process.execPath, dbbackupArgs(target, extra, db), env, true));
  const backups: Record<string, ReturnType<typeof withManifest>> = {};
  for (const compression of compressions) {
    const runs = backupRuns[compression] ?? [];
    const out = withManifest({ ...median(runs), stdout: (runs[0] as { stdout: string }).stdout });
    backups[compression] = { ...out, peakRssMb: Math.max(...runs.map((r) => r.peakRssMb ?? 0)) };
    const target = compression === 'gzip' ? TARGETS.gzipBackup : compression === 'zstd' ? TARGETS.zstdBackup : undefined;
    row({
      path: `dbbackup backup ${compression} → directory`,
      seconds: out.seconds,
      baseline: 'floor',
      ratio: pairedRatio(runs, floorRuns),
      targetRatio: target,
      rssLimitMb: RSS_LIMIT_MB,
      storedBytes: out.storedBytes,
      peakRssMb: backups[compression]?.peakRssMb,
      note: out.implementation,
    });
  }
  for (const c of ['gzip', 'zstd'] as const) {
    const pipe = `pg_dump -Fc -Z0 | ${byHand[c]} | sha256sum`;
    row({ path: `ref: ${pipe}`, seconds: hand[c].seconds, baseline: 'floor', ratio: pairedRatio(handRuns[c], floorRuns) });
    const ours = backups[c] as NonNullable<(typeof backups)['gzip']>;
    row({
      path: `dbbackup backup ${c} → directory, against the pipe by hand`,
      seconds: ours.seconds,
      baseline: `the ${c} pipe by hand (${hand[c].seconds.toFixed(2)} s)`,
      ratio: pairedRatio(backupRuns[c] as Measurement[], handRuns[c]),
      note: "dbbackup's own cost: start, probe, row counts, manifest and run record, fsync",
    });
  }
  const gzip = backups.gzip as NonNullable<(typeof backups)['gzip']>;
  row({
    path: 'dbbackup gzip stored size',
    baseline: 'gzip -6 size',
    ratio: gzip.storedBytes / gzip6.storedBytes,
    targetRatio: TARGETS.gzipSize,
    storedBytes: gzip.storedBytes,
  });
  for (const compression of ['gzip', 'zstd']) {
    const out = await dbbackup(`backup ${compression} → s3rver`, `s3://bench/${dataSet}-${compression}`, [
      '--compression',
      compression,
    ]);
    row({
      path: `dbbackup backup ${compression} → s3rver`,
      seconds: out.seconds,
      baseline: 'floor',
      ratio: out.seconds / floor.seconds,
      rssLimitMb: RSS_LIMIT_MB,
      storedBytes: out.storedBytes,
      peakRssMb: out.peakRssMb,
    });
  }
  const small = await dbbackup('backup gzip, 1/4 size', join(work, `${dataSet}-quarter`), [], quarter);
  row({
    path: 'peak RSS growth, backup gzip',
    baseline: '1/4 database',
    ratio: (gzip.peakRssMb ?? 0) / (small.peakRssMb ?? 1),
    targetRatio: RSS_GROWTH_TARGET,
    peakRssMb: gzip.peakRssMb,
    note: `${(quarterBytes / 1e6).toFixed(0)} MB → ${small.peakRssMb?.toFixed(0)} MB RSS; ${(dbBytes / 1e6).toFixed(0)} MB → ${gzip.peakRssMb?.toFixed(0)} MB RSS`,
  });

  // verify: the same stored file, read by dbbackup (size, SHA-256, decompression, pg_restore's read
  // of every block) against the decompressor and sha256sum alone.
  for (const [compression, decompress] of [
    ['gzip', gunzipCommand],
    ['zstd', 'zstd -q -d -c'],
  ] as const) {
    const dir = dirs[compression] as string;
    const file = join(dir, (await newestBackupFile(dir)) as string);
    const turns = await inTurn(
      () =>
        measureOnce(
          `${decompress} | sha256sum`,
          'bash',
          ['-o', 'pipefail', '-c', `${decompress} '${file}' | sha256sum > /dev/null`],
          pgEnv,
        ),
      () => measureOnce(`verify ${compression}`, process.execPath, [cliPath, 'verify', '--target', dir, '--latest'], env, true),
    );
    const bare = median(turns.baseline);
    const out = { ...median(turns.path), peakRssMb: Math.max(...turns.path.map((r) => r.peakRssMb ?? 0)) };
    row({
      path: `dbbackup verify ${compression}`,
      seconds: out.seconds,
      baseline: `${decompress.split(' ')[0]} -d | sha256sum (${bare.seconds.toFixed(2)} s)`,
      ratio: pairedRatio(turns.path, turns.baseline),
      targetRatio: TARGETS.verify,
      rssLimitMb: RSS_LIMIT_MB,
      peakRssMb: out.peakRssMb,
    });
  }

  await restoreBench(run, admin, { dataSet, full, quarter, dbBytes, quarterBytes, row });
  await admin.query(`drop database ${full} with (force)`);
  await admin.query(`drop database ${quarter} with (force)`);
  await admin.end();
}

/**
 * The newest backup's file name in a directory target: the data file, not its manifest, nor the run
 * records under runs/ (a `.jsonl` there was taken for the backup, and its verify failed).
 */
async function newestBackupFile(dir: string): Promise<string | undefined> {
  const names: string[] = [];
  for await (const entry of await fs.opendir(dir, { recursive: true })) {
    const name = join(entry.parentPath, entry.name).slice(dir.length + 1);
    if (entry.isFile() && !name.startsWith('runs/') && !/\.jsonl?$/.test(entry.name)) names.push(name);
  }
  return names.sort().at(-1);
}

/**
 * `dbbackup restore` from a directory target into a new database against `pg_restore
 * --single-transaction` of the same custom dump, decompressed into a local file, into a new
 * database: both in this run, alternated, medians compared. Then the restore's peak RSS for the
 * database and for its quarter.
 */
async function restoreBench(
  run: PgRun,
  admin: pg.Client,
  setup: {
    dataSet: string;
    full: string;
    quarter: string;
    dbBytes: number;
    quarterBytes: number;
    row: (r: Omit<BenchRow, 'dataSet'>) => void;
  },
): Promise<void> {
  const { cluster, env, pgEnv, url, noPw, work } = run;
  const { dataSet, full, quarter, dbBytes, quarterBytes, row } = setup;
  const backupOf = async (db: string) => {
    const out = await measureOnce(
      `backup ${db}`,
      process.execPath,
      [cliPath, 'backup', '--source', url(db), '--target', join(work, `restore-from-${db}`), '--json'],
      env,
    );
    return JSON.parse(out.stdout) as { location: string; size_bytes: number };
  };
  const fullBackup = await backupOf(full);
  const quarterBackup = await backupOf(quarter);
  const dumpFile = join(work, `${dataSet}.dump`);
  await measureOnce(
    'decompress',
    'bash',
    ['-o', 'pipefail', '-c', `${gunzipCommand} '${fullBackup.location}' > '${dumpFile}'`],
    env,
  );

  const pgRestore = join(cluster.binDir, 'pg_restore');
  let n = 0;
  const drop = (name: string) => admin.query(`drop database if exists ${name} with (force)`);
  const floorRuns: Measurement[] = [];
  const restoreRuns: Measurement[] = [];
  for (let i = 0; i < repeat; i++) {
    // Alternated, so that a busy moment of the machine falls on both alike.
    // Creating the new database is counted on both sides: dbbackup's restore creates its own.
    const bare = `restored_${n++}`;
    floorRuns.push(
      await measureOnce(
        'create database; pg_restore --single-transaction',
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
        [cliPath, 'restore', '--path', fullBackup.location, '--to', url(into), '--confirm', into, '--no-safety-backup'],
        env,
        true,
      ),
    );
    await drop(into);
  }
  await fs.rm(dumpFile, { force: true });
  const floor = median(floorRuns);
  const restore = { ...median(restoreRuns), peakRssMb: Math.max(...restoreRuns.map((r) => r.peakRssMb ?? 0)) };
  const into = `restored_${n++}`;
  const small = await measureOnce(
    'dbbackup restore ← directory, 1/4 size',
    process.execPath,
    [cliPath, 'restore', '--path', quarterBackup.location, '--to', url(into), '--confirm', into, '--no-safety-backup'],
    env,
    true,
  );
  await drop(into);
  row({
    path: 'dbbackup restore gzip ← directory',
    seconds: restore.seconds,
    baseline: `pg_restore --single-transaction (${floor.seconds.toFixed(2)} s)`,
    ratio: pairedRatio(restoreRuns, floorRuns),
    targetRatio: TARGETS.restore,
    rssLimitMb: RSS_LIMIT_MB,
    storedBytes: fullBackup.size_bytes,
    peakRssMb: restore.peakRssMb,
  });
  row({
    path: 'peak RSS growth, restore gzip',
    baseline: '1/4 database',
    ratio: (restore.peakRssMb ?? 0) / (small.peakRssMb ?? 1),
    targetRatio: RSS_GROWTH_TARGET,
    peakRssMb: restore.peakRssMb,
    note: `${(quarterBytes / 1e6).toFixed(0)} MB → ${small.peakRssMb?.toFixed(0)} MB RSS; ${(dbBytes / 1e6).toFixed(0)} MB → ${restore.peakRssMb?.toFixed(0)} MB RSS`,
  });
}

/**
 * SQLite: `dbbackup backup` against `sqlite3 .backup` into a file and the same compressor as
 * dbbackup's default (igzip -2, else gzip -5) piped into sha256sum, idle and while another process
 * writes; each pair alternated.
 */
async function sqliteBench(): Promise<void> {
  const work = await fs.mkdtemp(join(tmpdir(), 'dbbackup-bench-sqlite-'));
  try {
    const path = join(work, 'app.db');
    const db = new Database(path);
    db.exec(
      'create table payload (id integer primary key, label text, data blob); create table writes (id integer primary key, note text)',
    );
    const count = Math.round((sqliteMb * 1e6) / 1100);
    db.prepare(
      `with recursive c(x) as (select 1 union all select x + 1 from c where x < ?)
       insert into payload (label, data) select 'row ' || x || ' ' || hex(randomblob(150)) || ' student grade course', randomblob(700) from c`,
    ).run(count);
    db.close();
    const bytes = (await fs.stat(path)).size;
    const copy = join(work, 'copy.db');
    const pair = async (situation: string) => {
      // sqlite3's .backup copies 100 pages a step and starts over whenever another connection writes,
      // so under a steady writer it never ends: VACUUM INTO (one read transaction) stands in for it there.
      const snapshot = situation === 'idle database' ? `.backup '${copy}'` : `VACUUM INTO '${copy}'`;
      const turns = await inTurn(
        () =>
          measureOnce(
            'sqlite3 .backup + compressor',
            'bash',
            [
              '-o',
              'pipefail',
              '-c',
              `rm -f '${copy}' && sqlite3 -cmd '.timeout 10000' '${path}' "${snapshot}" && ${gzipCommand} '${copy}' | sha256sum > /dev/null`,
            ],
            process.env,
          ),
        () =>
          measureOnce(
            'dbbackup backup',
            process.execPath,
            [cliPath, 'backup', '--source', path, '--target', join(work, 'out'), '--json'],
            process.env,
            true,
          ),
      );
      const bare = median(turns.baseline);
      const out = { ...median(turns.path), peakRssMb: Math.max(...turns.path.map((r) => r.peakRssMb ?? 0)) };
      const stdout = (turns.path[0] as { stdout: string }).stdout;
      rows.push({
        dataSet: 'sqlite',
        path: `dbbackup backup gzip, ${situation}`,
        seconds: out.seconds,
        baseline: `sqlite3 ${situation === 'idle database' ? '.backup' : 'VACUUM INTO'} + ${gzipCommand.split(' ')[0]} (${bare.seconds.toFixed(2)} s)`,
        ratio: pairedRatio(turns.path, turns.baseline),
        targetRatio: TARGETS.sqlite,
        rssLimitMb: RSS_LIMIT_MB,
        storedBytes: (JSON.parse(stdout) as { size_bytes: number }).size_bytes,
        peakRssMb: out.peakRssMb,
        note: situation === 'idle database' ? `database ${(bytes / 1e6).toFixed(0)} MB` : undefined,
      });
    };
    await pair('idle database');
    const writer = spawn(process.execPath, [join(repo, 'dist/test/harness/sqlite-writer.js'), path, 'insert'], {
      stdio: 'ignore',
    });
    await new Promise((r) => setTimeout(r, 500));
    try {
      await pair('concurrent writer');
    } finally {
      writer.kill();
    }
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

try {
  if (!args['skip-postgres']) await postgresBench();
  if (!args['skip-sqlite']) await sqliteBench();
} finally {
  // What was measured before a failure is still worth reading.
  await report();
}

async function report(): Promise<void> {
  const results: BenchResults = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores, ${Math.round(totalmem() / 1e9)} GB, load ${loadavg()[0]?.toFixed(1)} at the end`,
    options: { sizeMb, sqliteMb, dataSets: args['data-sets'], repeat },
    rows,
  };
  console.log(`\n${formatText(rows)}`);
  await fs.writeFile(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwritten to ${jsonOut}; npm run bench:readme puts it in the README`);
}
