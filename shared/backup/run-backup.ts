import { randomBytes } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { buildBackupKey, contentTypeOf, formatTimestamp, keyName } from './backup-key.js';
import { type BackupOptions, type BackupOptionsInput, parseBackupOptions } from './backup-options.js';
import { checkCompressionAvailable, createCompressor, resolveLevel } from '../compression/compression.js';
import type { DumpFormat, Engine, EngineDefinition } from '../engines/engine.js';
import { isSecretParameter, locateDatabase } from '../engines/registry.js';
import { ConfigError, DbBackupError, DumpError } from '../errors.js';
import { MANIFEST_SUFFIX, MANIFEST_VERSION, type Manifest, manifestSchema } from '../manifest.js';
import { Meter } from '../pipeline/meter.js';
import { redactLocation } from '../redact.js';
import { openTarget } from '../targets/open-target.js';
import type { Target } from '../targets/target.js';
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
  /** Aborting cancels the run: the upload is aborted and no manifest is written. */
  readonly signal?: AbortSignal;
  readonly now?: () => Date;
  /** What the edge read from its environment. @default defaultSettings() */
  readonly settings?: Settings;
  /**
   * The S3 client for an `s3://` target, instead of one built for this run: a warm Lambda
   * container keeps its connections and credentials across backups. Its own settings (endpoint,
   * checksums) apply, so `s3Checksums` has no effect with it.
   */
  readonly s3Client?: S3Client;
}

const PROGRESS_INTERVAL_MS = 200;

/**
 * Backs up one database: dump → compress → SHA-256 → upload, in one streaming pass, then
 * writes the manifest. The backup counts as completed only when the dump process exited 0,
 * every stream ended cleanly and the stored size matches what was sent; on any failure the
 * upload is aborted (or the temp file removed) and no manifest is written.
 */
export async function runBackup(input: BackupOptionsInput, context: RunBackupContext = {}): Promise<Manifest> {
  try {
    return await backupOnce(input, context);
  } catch (error) {
    if (error instanceof DbBackupError) throw error;
    // Anything not already explained (a driver's own error class) still gets one line that names the source.
    const source =
      typeof (input as { source?: unknown }).source === 'string'
        ? redactLocation((input as { source: string }).source, isSecretParameter)
        : 'the source';
    throw new DumpError(`backup of ${source} failed: ${error instanceof Error ? error.message : String(error)}`, {
      hint: 'no backup was stored',
      cause: error,
    });
  }
}

async function backupOnce(input: BackupOptionsInput, context: RunBackupContext): Promise<Manifest> {
  const options = parseBackupOptions(input);
  const settings = context.settings ?? defaultSettings();
  const started = Date.now();
  const level = resolveLevel(options.compression, options.level);
  const definition = locateDatabase(options.source, 'source');
  const format = chooseFormat(definition, options.format);
  const engine = await definition.openSource(options.source, { label: options.name, settings });
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
  try {
    return await backupProbed(engine, definition, format, target, options, level, context, started);
  } finally {
    await engine.close();
  }
}

/** Probes, dumps, stores and commits; `engine` and `target` are open and validated. */
async function backupProbed(
  engine: Engine,
  definition: EngineDefinition,
  format: DumpFormat,
  target: Target,
  options: BackupOptions,
  level: number | undefined,
  context: RunBackupContext,
  started: number,
): Promise<Manifest> {
  const now = context.now ?? (() => new Date());
  const report = (progress: Omit<BackupProgress, 'elapsedMs'>) =>
    context.onProgress?.({ ...progress, elapsedMs: Date.now() - started });
  report({ phase: 'probing', sourceBytes: 0, storedBytes: 0 });
  const [source] = await Promise.all([engine.probe(), target.preflight(), checkCompressionAvailable(options.compression)]);
  context.signal?.throwIfAborted();

  const date = now();
  const run = randomBytes(4).toString('hex');
  const { key, fileName } = await chooseFreeKey(target, (sequence) =>
    buildBackupKey({
      engine: source.engine,
      database: source.database,
      format,
      compression: options.compression,
      date,
      run,
      sequence,
    }),
  );

  if (definition.preparingPhase) report({ phase: definition.preparingPhase, sourceBytes: 0, storedBytes: 0 });
  const dump = await engine.dump({ format });
  try {
    const sourceMeter = new Meter();
    const storedMeter = new Meter({ sha256: true });
    const compressor = createCompressor(options.compression, level);
    let streamError: Error | undefined;
    pipeline(dump.stream, sourceMeter, compressor, storedMeter, (error) => {
      if (error) streamError ??= error;
    });
    const abort = () => storedMeter.destroy(new DumpError('backup cancelled', { hint: 'no backup was stored' }));
    context.signal?.addEventListener('abort', abort, { once: true });

    const ticker = setInterval(
      () =>
        report({
          phase: 'streaming',
          sourceBytes: sourceMeter.bytes,
          storedBytes: storedMeter.bytes,
          totalSourceBytes: dump.sizeBytes,
          databaseSizeBytes: source.databaseSizeBytes,
        }),
      PROGRESS_INTERVAL_MS,
    );
    try {
      await target.put(key, storedMeter, {
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
    } catch (error) {
      // The first stream error (the dump's) says more than the target's "aborted".
      throw streamError ?? error;
    } finally {
      clearInterval(ticker);
      context.signal?.removeEventListener('abort', abort);
    }
    if (streamError) throw streamError;
    if (!storedMeter.writableFinished || !storedMeter.readableEnded) {
      throw new DumpError(`backup of ${source.description} stopped before the end of the dump`);
    }

    report({ phase: 'committing', sourceBytes: sourceMeter.bytes, storedBytes: storedMeter.bytes });
    const sha256 = storedMeter.sha256();
    // The one size check: what the target holds against what was sent (and the hash recorded there).
    await target.seal(key, { size: storedMeter.bytes, sha256 });

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
      hash_algorithm: 'sha256',
      source_size_bytes: sourceMeter.bytes,
      database_size_bytes: source.databaseSizeBytes ?? null,
      duration_ms: Date.now() - started,
      storage_class: target.kind === 's3' ? (options.storageClass ?? 'STANDARD') : null,
      sse: target.sse,
      kms_key_id: target.sse === 'aws:kms' ? (options.kmsKeyId ?? null) : null,
      engine_version: source.engineVersion,
      tool_version: toolVersion(),
      source: source.description,
      kind: options.kind,
      label: options.label ?? null,
      tables: dump.tableCounts?.tables ?? {},
      tables_estimated: [...(dump.tableCounts?.estimated ?? [])],
      tables_skipped: { ...dump.tableCounts?.skipped },
    } satisfies Manifest);
    // The manifest is the commit marker: written last, and only now does the backup exist.
    await target.put(key + MANIFEST_SUFFIX, Readable.from([Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)]), {
      contentType: 'application/json',
      metadata: { 'backup-sha256': sha256 },
    });
    return manifest;
  } finally {
    await dump.cleanup();
  }
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
