import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { buildBackupKey, contentTypeOf, formatTimestamp, keyName } from './backup-key.js';
import { type BackupOptions, type BackupOptionsInput, parseBackupOptions } from './backup-options.js';
import { prepareCompressor, resolveLevel } from '../compression/compression.js';
import { prepareByteCounter } from '../pipeline/byte-counter.js';
import { streamDump } from './stream-dump.js';
import type { DumpFormat, Engine, EngineDefinition, SourceInfo } from '../engines/engine.js';
import { isSecretParameter, locateDatabase } from '../engines/registry.js';
import { ConfigError, DbBackupError, DumpError, formatErrorLine, StorageError, type Wording } from '../errors.js';
import { MANIFEST_SUFFIX, MANIFEST_VERSION, type Manifest, manifestSchema } from '../manifest.js';
import { firstCause } from '../pipeline/first-cause.js';
import { Meter } from '../pipeline/meter.js';
import { type Deadline, RunStop, settleWithin } from '../pipeline/run-stop.js';
import { redactLocation } from '../redact.js';
import { type RunRecord, RUN_RECORD_VERSION, writeRunRecord } from '../runs/run-record.js';
import { openTarget } from '../targets/open-target.js';
import type { StoredObject, Target } from '../targets/target.js';
import { toolVersion } from '../tool-version.js';
import { defaultSettings, type Settings } from '../settings.js';

/** What a running backup reports, a few times a second. */
export interface BackupProgress {
  readonly phase: 'probing' | 'snapshotting' | 'streaming' | 'committing';
  /** Uncompressed bytes read from the dump so far. */
  readonly sourceBytes: number;
  /** Compressed bytes handed to the target so far. */
  readonly storedBytes: number;
  /** Exact total of `sourceBytes` when known (SQLite), else undefined. */
  readonly totalSourceBytes?: number;
  /** The database's size on disk, a rough guide for PostgreSQL where the dump size is unknown. */
  readonly databaseSizeBytes?: number;
  readonly elapsedMs: number;
}

/** Hooks and overrides for a backup run. */
export interface RunBackupContext {
  readonly onProgress?: (progress: BackupProgress) => void;
  /**
   * Aborting cancels the run, in any phase: what it started stops, what it stored is removed, and
   * it fails with a CancelledError. A string reason says why (`SIGTERM`).
   */
  readonly signal?: AbortSignal;
  /** When the run must have ended: past it, the run stops as if cancelled, and says it ran out of time. */
  readonly deadline?: Deadline;
  readonly now?: () => Date;
  /** What the edge read from its environment. @default defaultSettings() */
  readonly settings?: Settings;
  /**
   * The S3 client for an `s3://` target, instead of one built for this run: a warm Lambda
   * container keeps its connections and credentials across backups. Its own settings (endpoint,
   * checksums) apply, so `s3Checksums` has no effect with it.
   */
  readonly s3Client?: S3Client;
  /**
   * Told what went wrong beside the run's own result, such as a run record that could not be
   * written; the run's result (its manifest or its error) is never changed by it.
   */
  readonly onWarning?: (message: string) => void;
  /** How the run record words the run's error: the front end's own words, as the user read it. @default the core's */
  readonly wording?: Wording;
}

const PROGRESS_INTERVAL_MS = 200;

/**
 * How long a run waits for its record to be stored: a few hundred bytes, which a target that
 * answers takes at once. A stalled target must not hold the run's result back (a function's
 * margin, a Ctrl-C) for long after its cleanup was already cut short.
 */
const RUN_RECORD_GRACE_MS = 2_000;

/**
 * Backs up one database: dump → compress → SHA-256 → upload, in one streaming pass, then
 * writes the manifest. The backup counts as completed only when the dump process exited 0,
 * every stream ended cleanly and the stored size matches what was sent. On any failure, in any
 * phase, including a cancel or the deadline, the run undoes what it did before it fails: the
 * upload is aborted (or the temp file removed), whatever was stored at its keys is deleted, and
 * the source's session, lock, snapshot and child processes are released, each within a bounded
 * time (CLEANUP_GRACE_MS).
 */
export async function runBackup(input: BackupOptionsInput, context: RunBackupContext = {}): Promise<Manifest> {
  try {
    return await backupOnce(input, context);
  } catch (error) {
    throw explained(error, input);
  }
}

/** The error a backup fails with: ours as it is, anything not already explained (a driver's own error class) as a DumpError naming the source. */
function explained(error: unknown, input: BackupOptionsInput): DbBackupError {
  if (error instanceof DbBackupError) return error;
  const source =
    typeof (input as { source?: unknown }).source === 'string'
      ? redactLocation((input as { source: string }).source, isSecretParameter)
      : 'the source';
  return new DumpError(`backup of ${source} failed: ${error instanceof Error ? error.message : String(error)}`, {
    hint: 'no backup was stored',
    cause: error,
  });
}

/** What a run learns on its way, for its run record whichever way it ends. */
interface RunFacts {
  readonly runId: string;
  /** When the run started by the run's clock (context.now), as its manifest's time is. */
  readonly startedAt: Date;
  /** When it started by the wall clock, for its duration. */
  readonly startedMs: number;
  source?: SourceInfo;
  /** The target failed its own check (unreachable, missing, refused): no record is attempted. */
  targetUnusable?: boolean;
  /** The backup's key, relative to the target root as run records name keys. */
  key?: string;
}

async function backupOnce(input: BackupOptionsInput, context: RunBackupContext): Promise<Manifest> {
  const options = parseBackupOptions(input);
  const settings = context.settings ?? defaultSettings();
  const started = Date.now();
  const level = resolveLevel(options.compression, options.level);
  const definition = locateDatabase(options.source, 'source');
  const format = chooseFormat(definition, options.format);
  const stop = new RunStop('backup', { signal: context.signal, deadline: context.deadline, hint: 'no backup was stored' });
  // Each run's own id, in its key and its run record: two runs never share one, whatever the server honours.
  // A run given its own clock (a backdated test or demo run) is recorded at that time, as its
  // manifest is, so reports line the two up; its duration is still measured.
  const facts: RunFacts = {
    runId: randomBytes(4).toString('hex'),
    startedAt: context.now?.() ?? new Date(started),
    startedMs: started,
  };
  let recordIn: { target: Target; engine: Engine } | undefined;
  let outcome: { manifest: Manifest } | { error: unknown } | undefined;
  try {
    stop.check();
    const engine = await definition.openSource(options.source, {
      label: options.name,
      lockWaitSeconds: options.lockWaitSeconds,
      settings,
    });
    try {
      const target = await openTarget(options.target, {
        sse: options.sse,
        kmsKeyId: options.kmsKeyId,
        checksums: options.s3Checksums,
        client: context.s3Client,
        settings,
      });
      if (target.kind !== 's3') {
        const s3Only = options.storageClass ? 'storageClass' : options.sse ? 'sse' : options.kmsKeyId ? 'kmsKeyId' : undefined;
        if (s3Only) throw new ConfigError((w) => `${w.option(s3Only)} applies to S3 targets only (target is ${target.url})`);
      }
      // From here on the run happened, whichever way it ends: it leaves a record of itself.
      recordIn = { target, engine };
      const manifest = await backupProbed({
        engine,
        definition,
        format,
        target,
        options,
        level,
        settings,
        context,
        started,
        stop,
        facts,
      });
      outcome = { manifest };
      return manifest;
    } catch (error) {
      outcome = { error };
      throw error;
    } finally {
      // Ends a probe still running too; a source that no longer answers must not hold a run that has ended.
      await settleWithin(engine.close());
    }
  } finally {
    stop.dispose();
    // Written once the run has ended and cleaned up; bounded, so that a target that stopped answering cannot hold the result back.
    if (recordIn && outcome && !facts.targetUnusable && !badInputAtHand(outcome, options)) {
      const record = runRecordOf(facts, recordIn.engine, definition, options, outcome, input, context.wording);
      await recordRun(recordIn.target, record, context.onWarning);
    }
  }
}

/**
 * Bad input given by hand (a mistyped path or password, a setting that cannot be met: a
 * ConfigError) is answered at the terminal and leaves nothing behind, as bad input never does. A
 * scheduled run's is recorded: nobody is there to read it, and reports must count it.
 */
function badInputAtHand(outcome: { manifest: Manifest } | { error: unknown }, options: BackupOptions): boolean {
  return 'error' in outcome && outcome.error instanceof ConfigError && options.kind !== 'scheduled';
}

/** The record of a run that has ended, its error worded as the user read it. */
function runRecordOf(
  facts: RunFacts,
  engine: Engine,
  definition: EngineDefinition,
  options: BackupOptions,
  outcome: { manifest: Manifest } | { error: unknown },
  input: BackupOptionsInput,
  wording: Wording | undefined,
): RunRecord {
  const durationMs = Math.max(0, Date.now() - facts.startedMs);
  const manifest = 'manifest' in outcome ? outcome.manifest : undefined;
  const source = manifest?.source_size_bytes ?? null;
  const stored = manifest?.size_bytes ?? null;
  return {
    record_version: RUN_RECORD_VERSION,
    run_id: facts.runId,
    database: facts.source?.database ?? engine.database,
    engine: facts.source?.engine ?? definition.kind,
    kind: options.kind,
    tier: options.label ?? null,
    result: manifest ? 'succeeded' : 'failed',
    error: 'error' in outcome ? formatErrorLine(explained(outcome.error, input), wording) : null,
    started_at: facts.startedAt.toISOString(),
    ended_at: new Date(facts.startedAt.getTime() + durationMs).toISOString(),
    duration_ms: durationMs,
    source_bytes: source,
    stored_bytes: stored,
    compression_ratio: source !== null && stored ? source / stored : null,
    compression: options.compression,
    backup_key: manifest ? (facts.key ?? null) : null,
    client_version: manifest?.engine_version ?? facts.source?.engineVersion ?? {},
    tool_version: toolVersion(),
  };
}

/** Writes the run record, within RUN_RECORD_GRACE_MS; says so through `onWarning` when it could not. */
async function recordRun(target: Target, record: RunRecord, onWarning: ((message: string) => void) | undefined): Promise<void> {
  let result: { key: string } | { error: string } = { error: 'run record not written: the target did not answer in time' };
  await settleWithin(
    writeRunRecord(target, record).then((r) => (result = r)),
    RUN_RECORD_GRACE_MS,
  );
  if ('error' in result) onWarning?.(result.error);
}

/** What one backup run works with, once its engine and target are open and validated. */
interface OpenRun {
  readonly engine: Engine;
  readonly definition: EngineDefinition;
  readonly format: DumpFormat;
  readonly target: Target;
  readonly options: BackupOptions;
  readonly level: number | undefined;
  readonly settings: Settings;
  readonly context: RunBackupContext;
  readonly started: number;
  readonly stop: RunStop;
  readonly facts: RunFacts;
}

/** Probes, dumps, stores and commits. */
async function backupProbed(run: OpenRun): Promise<Manifest> {
  const { engine, definition, format, target, options, level, settings, context, started, stop, facts } = run;
  const now = context.now ?? (() => new Date());
  const report = (progress: Omit<BackupProgress, 'elapsedMs'>) =>
    context.onProgress?.({ ...progress, elapsedMs: Date.now() - started });
  report({ phase: 'probing', sourceBytes: 0, storedBytes: 0 });
  stop.phase = 'checking the source and the target';
  // The checks run side by side; the first to fail ends the others (the probe's session is closed).
  const checking = new AbortController();
  const endChecks = () => {
    checking.abort();
    return engine.close();
  };
  stop.signal.addEventListener('abort', () => checking.abort(), { once: true });
  const [source, , compressing, counter] = await stop.guard(
    together(
      [
        engine.probe(),
        target.preflight({ signal: checking.signal }).catch((error: unknown) => {
          // A target that cannot be reached or does not exist cannot hold a record either.
          if (!checking.signal.aborted) facts.targetUnusable = true;
          throw error;
        }),
        prepareCompressor(options.compression, level, settings),
        // A compressor that is a program of its own is fed by the dump's program directly, a counter between them.
        prepareByteCounter(settings),
      ] as const,
      endChecks,
    ),
  );
  const fed = compressing.program && counter ? { compressor: compressing.program, counter } : undefined;

  facts.source = source;
  const date = now();
  const { key, fileName } = await stop.guard(
    chooseFreeKey(target, (sequence) =>
      buildBackupKey({
        engine: source.engine,
        database: source.database,
        format,
        compression: options.compression,
        date,
        run: facts.runId,
        sequence,
      }),
    ),
  );

  if (definition.preparingPhase) {
    report({ phase: definition.preparingPhase, sourceBytes: 0, storedBytes: 0 });
    stop.phase = 'taking the snapshot';
  }
  const dumping = engine.dump({ format, through: fed ? [fed.counter.program, fed.compressor.program] : undefined });
  const dump = await stop.guard(dumping).catch(async (error: unknown) => {
    // A dump still being prepared when the run stopped is cleaned up once it is ready.
    await settleWithin(dumping.then((d) => d.cleanup()));
    throw error;
  });
  try {
    stop.check();
    stop.phase = 'streaming';
    const storedMeter = new Meter({ sha256: true });
    const { piped, sourceBytes } = streamDump(dump, fed, () => compressing.create(), storedMeter);
    // Stopping fails the stream; the target then aborts its upload (or removes its temp file).
    const abort = () => storedMeter.destroy(stop.signal.reason as Error);
    stop.signal.addEventListener('abort', abort, { once: true });

    const ticker = setInterval(
      () =>
        report({
          phase: 'streaming',
          sourceBytes: sourceBytes.soFar(),
          storedBytes: storedMeter.bytes,
          totalSourceBytes: dump.sizeBytes,
          databaseSizeBytes: source.databaseSizeBytes,
        }),
      PROGRESS_INTERVAL_MS,
    );
    const putting = target.put(key, storedMeter, {
      contentType: contentTypeOf(options.compression, format),
      expectedSizeBytes: dump.sizeBytes ?? source.databaseSizeBytes,
      storageClass: options.storageClass,
      metadata: {
        // S3 metadata is ASCII: the name as keys hold it.
        'dbbackup-database': keyName(source.database),
        'dbbackup-engine': source.engine,
        'dbbackup-format': format,
        'dbbackup-compression': options.compression,
        'dbbackup-version': toolVersion(),
      },
    });
    let stored: StoredObject | undefined;
    try {
      stored = await stop.guard(putting);
      const streamError = await stop.guard(piped);
      if (streamError) throw streamError;
    } catch (error) {
      // Let the target finish undoing its write (or, had it finished, undo it), then say what failed first.
      const landed =
        (await settleWithin(putting)) &&
        (await putting.then(
          () => true,
          () => false,
        ));
      // The target's error, or the stream's, whichever is not a knock-on of the other.
      const cause = firstCause(error, await settledValue(piped));
      throw landed ? await removeStoredOrSay(target, key, cause) : cause;
    } finally {
      clearInterval(ticker);
      stop.signal.removeEventListener('abort', abort);
    }
    if (!storedMeter.writableFinished || !storedMeter.readableEnded) {
      await removeStored(target, key);
      throw new DumpError(`backup of ${source.description} stopped before the end of the dump`);
    }

    stop.phase = 'committing';
    const dumpedBytes = await sourceBytes.total();
    report({ phase: 'committing', sourceBytes: dumpedBytes, storedBytes: storedMeter.bytes });
    // Taken alongside the dump; a backup whose counts failed has no manifest.
    const tableCounts = await stop.guard(dump.tableCounts ?? Promise.resolve(undefined)).catch(async (error: unknown) => {
      throw await removeStoredOrSay(target, key, error);
    });
    const sha256 = storedMeter.sha256();
    const manifest = manifestSchema.parse({
      backup_file: fileName,
      timestamp: formatTimestamp(date),
      datetime: date.toISOString(),
      database: source.database,
      size_bytes: storedMeter.bytes,
      hash: sha256,
      status: 'completed',
      manifest_version: MANIFEST_VERSION,
      key: target.objectKey(key),
      location: target.locate(key),
      engine: source.engine,
      format,
      compression: options.compression,
      compression_level: level ?? null,
      compression_implementation: compressing.implementation,
      hash_algorithm: 'sha256',
      source_size_bytes: dumpedBytes,
      database_size_bytes: source.databaseSizeBytes ?? null,
      duration_ms: Date.now() - started,
      storage_class: target.kind === 's3' ? (options.storageClass ?? 'STANDARD') : null,
      // What S3 said it applied, else what was asked for: a write that asked for nothing got the bucket's default.
      sse: stored?.sse ?? target.sse,
      kms_key_id: target.sse === 'aws:kms' ? (options.kmsKeyId ?? stored?.kmsKeyId ?? null) : (stored?.kmsKeyId ?? null),
      engine_version: source.engineVersion,
      tool_version: toolVersion(),
      source: source.description,
      kind: options.kind,
      label: options.label ?? null,
      tables: tableCounts?.tables ?? {},
      tables_estimated: [...(tableCounts?.estimated ?? [])],
      tables_skipped: { ...tableCounts?.skipped },
    } satisfies Manifest);
    const committing = commit(target, key, manifest);
    try {
      await stop.guard(committing);
    } catch (error) {
      // A write still in flight lands first, so that what is removed is all there is.
      await settleWithin(committing);
      throw await removeStoredOrSay(target, key, error);
    }
    facts.key = key;
    return manifest;
  } finally {
    await settleWithin(dump.cleanup());
  }
}

/**
 * The one size check, what the target holds against what was sent (recording the hash there),
 * then the manifest: the commit marker, written last, and only then does the backup exist.
 */
async function commit(target: Target, key: string, manifest: Manifest): Promise<void> {
  await target.seal(key, { size: manifest.size_bytes, sha256: manifest.hash });
  await target.put(key + MANIFEST_SUFFIX, Readable.from([Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]), {
    contentType: 'application/json',
    metadata: { 'backup-sha256': manifest.hash },
  });
}

/**
 * Deletes what this run stored at `key`, its manifest first (so that no manifest ever names
 * missing data); returns the locations that could not be deleted.
 */
async function removeStored(target: Target, key: string): Promise<string[]> {
  const left: string[] = [];
  for (const stored of [key + MANIFEST_SUFFIX, key]) {
    const deleting = target.delete(stored);
    if (
      !(await settleWithin(deleting)) ||
      !(await deleting.then(
        () => true,
        () => false,
      ))
    )
      left.push(target.locate(stored));
  }
  return left;
}

/** Removes what the run stored after `error`; the error to report, saying what stayed if anything did. */
async function removeStoredOrSay(target: Target, key: string, error: unknown): Promise<unknown> {
  const left = await removeStored(target, key);
  if (left.length === 0) return error;
  const first = error instanceof DbBackupError ? error : undefined;
  return new StorageError(
    (w) => `${first ? first.worded(w).message : formatErrorLine(error)}; and ${left.join(' and ')} could not be removed`,
    {
      hint: 'delete it by hand: without its manifest no backup is listed, verified or restored',
      cause: error,
    },
  );
}

/**
 * Runs steps side by side. On the first failure, `stopOthers` ends the others and releases what
 * they hold (it resolves once that is done, waited for within the cleanup grace); then that
 * first failure is thrown, whichever step it came from, and not a knock-on of stopping the others.
 */
async function together<T extends readonly unknown[]>(
  steps: { readonly [K in keyof T]: Promise<T[K]> },
  stopOthers: () => Promise<void>,
): Promise<T> {
  let first: { error: unknown } | undefined;
  let stopped: Promise<void> | undefined;
  const watched = steps.map((step) =>
    step.catch((error: unknown) => {
      if (!first) {
        first = { error };
        stopped = stopOthers();
      }
      throw error;
    }),
  );
  try {
    return (await Promise.all(watched)) as unknown as T;
  } catch (error) {
    if (stopped) await settleWithin(stopped);
    throw first ? first.error : error;
  }
}

/** What a promise resolved to, if it did within the cleanup grace. */
async function settledValue<T>(work: Promise<T>): Promise<T | undefined> {
  let value: T | undefined;
  await settleWithin(work.then((v) => (value = v)));
  return value;
}

/** The format to dump in: the one asked for, if the engine writes it, else the engine's default. */
function chooseFormat(definition: EngineDefinition, asked: DumpFormat | undefined): DumpFormat {
  const formats = definition.formats.map((f) => f.name as DumpFormat);
  if (asked === undefined) return formats[0] as DumpFormat;
  if (formats.includes(asked)) return asked;
  throw new ConfigError((w) =>
    formats.length === 1
      ? `${w.setting('format', asked)} does not apply to ${definition.title}: its backups are always in the ${formats[0]} format`
      : `${w.setting('format', asked)} is not a ${definition.title} format (use one of ${formats.join(', ')})`,
  );
}

/**
 * Finds a key not used by any backup or manifest yet: should the run's key be taken, `_1`, `_2`, …
 * These are the only existence checks of a backup: put's conditional write refuses a key taken since,
 * and checking here, before the dump starts, is what moves a backup on to the next free name. Runs
 * that check at once all find the same key free; the run id in every key is what keeps them apart,
 * on S3-compatible servers that ignore If-None-Match too.
 */
async function chooseFreeKey(
  target: Target,
  build: (sequence: number) => { key: string; fileName: string },
): Promise<{ key: string; fileName: string }> {
  for (let sequence = 0; sequence < 1000; sequence++) {
    const candidate = build(sequence);
    const [data, manifest] = await Promise.all([target.stat(candidate.key), target.stat(candidate.key + MANIFEST_SUFFIX)]);
    if (!data && !manifest) return candidate;
  }
  throw new ConfigError('more than 1000 backups of this database in one second; refusing to continue');
}
