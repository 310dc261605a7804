import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { formatTimestamp, keyName } from '../backup/backup-key.js';
import { StorageError } from '../errors.js';
import type { Target } from '../targets/target.js';

/** The run record's own format version; readers skip versions they do not know. */
export const RUN_RECORD_VERSION = 1;

/**
 * Where run records live, relative to the target root: `runs/<engine>/<key name>/<YYYY>/…`. Never
 * an engine's folder nor `pre-restore/`, so no backup listing meets them; they end in `.jsonl`,
 * not `.json`, so a version that lists every `.json` as a manifest does not meet them either.
 */
export const RUNS_PREFIX = 'runs/';
export const RUN_RECORD_SUFFIX = '.jsonl';

/** What a run was: a backup (as its manifest's `kind` says), or a restore drill. */
export const RUN_KINDS = ['manual', 'scheduled', 'pre-restore', 'drill'] as const;
export type RunKind = (typeof RUN_KINDS)[number];

/**
 * One run, failed or not, as reports and health read it without CloudWatch. Written beside the
 * backups once the run has ended, whenever the target is reachable. `error` is the one line the
 * user saw (formatErrorLine: no stack, no secret).
 */
export const runRecordSchema = z.object({
  record_version: z.literal(RUN_RECORD_VERSION),
  run_id: z.string().regex(/^[0-9a-f]{8,32}$/),
  database: z.string().min(1),
  engine: z.string().min(1),
  kind: z.enum(RUN_KINDS),
  /** The schedule tier (`daily`, …) or a manual run's label; null when none. */
  tier: z.string().nullable(),
  result: z.enum(['succeeded', 'failed']),
  error: z.string().nullable(),
  started_at: z.string().datetime(),
  ended_at: z.string().datetime(),
  duration_ms: z.number().int().nonnegative(),
  source_bytes: z.number().int().nonnegative().nullable(),
  stored_bytes: z.number().int().nonnegative().nullable(),
  /** source_bytes / stored_bytes; null when either is unknown or zero. */
  compression_ratio: z.number().nonnegative().nullable(),
  compression: z.string().nullable(),
  /** The backup this run wrote (a backup run) or read (a drill), relative to the target root. */
  backup_key: z.string().nullable(),
  /** The client programs and server versions, as the manifest's `engine_version` names them. */
  client_version: z.record(z.string(), z.string()),
  tool_version: z.string(),
});

export type RunRecord = z.infer<typeof runRecordSchema>;

/** `runs/<engine>/<key name>/`: one database's run records, which a deployment's writer may add to. */
export function runRecordPrefix(engine: string, database: string): string {
  return `${RUNS_PREFIX}${engine}/${keyName(database)}/`;
}

/** `runs/<engine>/<key name>/<YYYY>/<YYYYMMDD_HHMMSS>_<kind>_<run id>.jsonl`, by the run's start. */
export function runRecordKey(record: Pick<RunRecord, 'engine' | 'database' | 'started_at' | 'kind' | 'run_id'>): string {
  const stamp = formatTimestamp(new Date(record.started_at));
  return `${runRecordPrefix(record.engine, record.database)}${stamp.slice(0, 4)}/${stamp}_${record.kind}_${record.run_id}${RUN_RECORD_SUFFIX}`;
}

/** A fresh run id for a run that has none of its own. */
export function newRunId(): string {
  return randomBytes(8).toString('hex');
}

/**
 * Stores a run record. Never throws: a record is a report about a run, and failing to write one
 * must not change the run's own result; the reason is returned for the caller to log.
 */
export async function writeRunRecord(target: Target, record: RunRecord): Promise<{ key: string } | { error: string }> {
  const parsed = runRecordSchema.safeParse(record);
  if (!parsed.success) return { error: `run record not written: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  const key = runRecordKey(parsed.data);
  const body = Buffer.from(`${JSON.stringify(parsed.data)}\n`, 'utf8');
  try {
    await target.put(key, Readable.from([body]), {
      contentType: 'application/jsonl',
      expectedSizeBytes: body.length,
    });
    return { key };
  } catch (error) {
    return { error: `run record not written: ${(error as Error).message}` };
  }
}

/** A run record as read back, with its key; or the key and why it could not be read. */
export type ReadRunRecord = { key: string; record: RunRecord } | { key: string; error: string };

/**
 * Reads the run records under `prefix` (default: all of them), optionally only those started at
 * or after `since`, oldest first. Unreadable ones are returned with their reason, never thrown.
 */
export async function listRunRecords(
  target: Target,
  options: { prefix?: string; since?: Date } = {},
): Promise<{ records: RunRecord[]; problems: Array<{ key: string; error: string }> }> {
  const prefix = options.prefix ?? RUNS_PREFIX;
  const sinceStamp = options.since ? formatTimestamp(options.since) : undefined;
  const keys: string[] = [];
  try {
    for await (const object of target.list(prefix)) {
      if (!object.key.endsWith(RUN_RECORD_SUFFIX)) continue;
      // The file name starts with the start time: skip what is older without reading it.
      const stamp = /(\d{8}_\d{6})_[^/]*$/.exec(object.key)?.[1];
      if (sinceStamp && stamp && stamp < sinceStamp) continue;
      keys.push(object.key);
    }
  } catch (error) {
    // A target with no runs/ folder yet has no records.
    if (error instanceof StorageError && error.notFound) return { records: [], problems: [] };
    throw error;
  }
  const records: RunRecord[] = [];
  const problems: Array<{ key: string; error: string }> = [];
  const read = async (key: string) => {
    const found = await readRunRecord(target, key);
    if (found === undefined) return; // pruned meanwhile
    if ('record' in found) records.push(found.record);
    else problems.push(found);
  };
  for (let i = 0; i < keys.length; i += 16) await Promise.all(keys.slice(i, i + 16).map(read));
  const since = options.since?.toISOString();
  const kept = since ? records.filter((r) => r.started_at >= since) : records;
  kept.sort((a, b) => a.started_at.localeCompare(b.started_at) || a.run_id.localeCompare(b.run_id));
  return { records: kept, problems };
}

/**
 * Reads one run record: the record, or why it is not one; undefined when it is gone (pruned since
 * it was listed).
 */
export async function readRunRecord(target: Target, key: string): Promise<ReadRunRecord | undefined> {
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of await target.get(key)) {
      size += (chunk as Buffer).length;
      // A record is a few hundred bytes: a huge object under runs/ is not one, and is not read whole.
      if (size > 64 * 1024) throw new Error('larger than any run record');
      chunks.push(chunk as Buffer);
    }
    const parsed = runRecordSchema.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    if (parsed.success) return { key, record: parsed.data };
    return { key, error: `${parsed.error.issues[0]?.path.join('.') || 'record'}: ${parsed.error.issues[0]?.message}` };
  } catch (error) {
    if (error instanceof StorageError && error.notFound) return undefined;
    return { key, error: (error as Error).message };
  }
}

/** What a run record's key says without reading it: when the run started, and its kind. */
export function runRecordKeyFacts(key: string): { startedAt: Date; kind: string } | undefined {
  const m = /\/(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})_([a-z-]+)_[0-9a-f]+\.jsonl$/.exec(key);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  return { startedAt: new Date(Date.UTC(y, mo - 1, d, h, mi, sec)), kind: m[7] as string };
}
