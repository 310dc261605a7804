import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { createDecompressor, isCorruptData } from '../compression/compression.js';
import { engineOf } from '../engines/registry.js';
import { IntegrityError } from '../errors.js';
import type { ListedBackup, ManifestProblem } from '../catalog/list-backups.js';
import { MANIFEST_SUFFIX } from '../manifest.js';
import { Meter } from '../pipeline/meter.js';
import { type ReadProgress, reportReadProgress } from '../pipeline/read-progress.js';
import type { Target } from '../targets/target.js';
import { defaultSettings, type Settings } from '../settings.js';

/** The outcome of re-reading one backup. */
export interface VerifyResult {
  readonly key: string;
  readonly backupFile: string;
  readonly ok: boolean;
  /**
   * size: stored bytes = manifest; sha256: hash = manifest; content: the archive reads to the end.
   * null: not checked (all three when the manifest itself is unreadable).
   */
  readonly checks: { readonly size: boolean | null; readonly sha256: boolean | null; readonly content: boolean | null };
  /** Why it failed, when it did. */
  readonly problem?: string;
  readonly durationMs: number;
}

/**
 * Re-reads a stored backup and checks it against its manifest: size, SHA-256 of the stored
 * bytes, and that the content is a readable archive (fully decompressed, then read to the end
 * by its engine's content check: see `EngineDefinition.checkContent`).
 * Integrity failures are returned (ok: false); anything else (network, missing pg_restore) throws,
 * as does aborting `signal` (with its reason), which stops the reading and removes any temp file.
 * `onProgress` is told the read's progress a few times a second, as a restore's.
 */
export async function verifyBackup(
  target: Target,
  backup: ListedBackup,
  settings: Settings = defaultSettings(),
  signal?: AbortSignal,
  onProgress?: (progress: ReadProgress) => void,
): Promise<VerifyResult> {
  const started = Date.now();
  const { manifest, key } = backup;
  const result = (checks: VerifyResult['checks'], problem?: string): VerifyResult => ({
    key,
    backupFile: manifest.backup_file,
    ok: problem === undefined,
    checks,
    problem,
    durationMs: Date.now() - started,
  });

  const stat = await target.stat(key);
  if (!stat) return result({ size: false, sha256: null, content: null }, `${target.locate(key)} is missing`);
  if (stat.size !== manifest.size_bytes) {
    return result(
      { size: false, sha256: null, content: null },
      `${target.locate(key)} holds ${stat.size} bytes, the manifest says ${manifest.size_bytes} (truncated or replaced)`,
    );
  }

  const meter = new Meter({ sha256: true });
  const archive = new Meter();
  const content = await engineOf(manifest.engine).checkContent(manifest, settings);
  let contentProblem: string | undefined;
  const stopReporting = reportReadProgress(
    'verifying',
    () => ({ storedBytes: meter.bytes, archiveBytes: archive.bytes }),
    manifest.size_bytes,
    onProgress,
  );
  try {
    await pipeline(await target.get(key), meter, createDecompressor(manifest.compression, settings), archive, content.sink, {
      signal,
    });
    await content.finish();
  } catch (error) {
    // Stopped: the reason it was stopped for, not the pipeline's "aborted".
    if (signal?.aborted) throw signal.reason;
    // Only corruption is a verdict on the backup; a dropped connection or a full disk is not.
    if (!isCorruptData(error)) throw error;
    contentProblem =
      error instanceof IntegrityError ? error.message : `the backup cannot be decompressed: ${(error as Error).message}`;
  } finally {
    stopReporting();
    await content.cleanup();
  }
  // A content check that fails early stops the read before the end, and its complaint (pg_restore
  // says "out of memory" for a length field a flipped bit made huge) describes a symptom: hash the
  // whole object then, so the verdict says whether the stored bytes themselves changed.
  const sha256 = meter.writableFinished ? meter.sha256() : await sha256Of(target, key);
  if (sha256 !== manifest.hash) {
    return result(
      { size: true, sha256: false, content: contentProblem === undefined },
      `the stored backup is corrupt: SHA-256 of ${target.locate(key)} is ${sha256}, the manifest says ${manifest.hash}`,
    );
  }
  if (contentProblem) return result({ size: true, sha256: true, content: false }, `the content is corrupt: ${contentProblem}`);
  return result({ size: true, sha256: true, content: true });
}

async function sha256Of(target: Target, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await target.get(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The verdict on a backup whose manifest is unreadable: it fails, since nothing can be checked against it. */
export function unreadableManifestResult(problem: ManifestProblem): VerifyResult {
  return {
    key: problem.key.slice(0, -MANIFEST_SUFFIX.length),
    backupFile: problem.backupFile,
    ok: false,
    checks: { size: null, sha256: null, content: null },
    problem: problem.futureDated
      ? `its manifest cannot be believed (${problem.error}): it may be newer than the latest that was checked; verify it by name`
      : `its manifest is unreadable (${problem.error}): nothing can be checked against it`,
    durationMs: 0,
  };
}
