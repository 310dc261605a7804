import { tmpdir } from 'node:os';
import { delimiter } from 'node:path';

/** The points a crash test can stop a run at (see `pausePoint`). */
export type PausePoint = 'download' | 'restore' | 'swap' | 'rename' | 'prune';

/**
 * What dbbackup takes from its environment, read once at the edge (the CLI's start, a
 * function's cold start) and passed down: the core reads no environment variable itself.
 */
export interface Settings {
  /** Where temporary files go (SQLite snapshots, downloaded backups). From DBBACKUP_TMPDIR, else the OS temp dir. */
  readonly tmpDir: string;
  /** Directories searched first for PostgreSQL client programs: DBBACKUP_PG_BIN_DIR, `:`-separated. */
  readonly pgBinDirs: readonly string[];
  /** The program search path (PATH), searched after `pgBinDirs`. */
  readonly searchPath: readonly string[];
  /** S3 as the AWS SDK is configured: AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), AWS_REGION, AWS_REQUEST_CHECKSUM_CALCULATION. */
  readonly s3: {
    readonly endpoint: string | undefined;
    readonly region: string | undefined;
    readonly checksums: 'when_supported' | 'when_required';
  };
  /**
   * Which gzip implementation compresses and decompresses (DBBACKUP_GZIP): `auto` (the default)
   * uses ISA-L's `igzip` program when it is found and runs, else Node's zlib on several threads;
   * `igzip` requires the program; `zlib` never looks for it. Any other value is refused when a
   * gzip backup is written or read, not here: reading settings never fails a start.
   */
  readonly gzipImplementation: string;
  /** The igzip program (DBBACKUP_IGZIP, a path); else `igzip` is looked for on `searchPath`. */
  readonly igzipPath: string | undefined;
  /** Test seam only: the point where a run announces itself and waits to be killed (DBBACKUP_TEST_PAUSE_AT). */
  readonly pauseAt: PausePoint | undefined;
  /**
   * Test seam only: with a pause point, the file whose creation lets the run go on from there
   * (DBBACKUP_TEST_RESUME_FILE), so that a test can act at that exact point (write to the
   * destination between the safety backup and the swap) rather than only kill the run.
   */
  readonly resumeFile: string | undefined;
  /**
   * The environment client programs run with. libpq reads its `PG*` variables there, and a
   * PostgreSQL URL takes what it leaves out from them, as libpq does.
   */
  readonly env: Readonly<NodeJS.ProcessEnv>;
}

const PAUSE_POINTS: readonly PausePoint[] = ['download', 'restore', 'swap', 'rename', 'prune'];

/** Reads the settings from an environment (the process's at the edges, a made-up one in tests). */
export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const list = (value: string | undefined) => (value ?? '').split(delimiter).filter(Boolean);
  const pauseAt = PAUSE_POINTS.find((p) => p === env.DBBACKUP_TEST_PAUSE_AT);
  return {
    tmpDir: env.DBBACKUP_TMPDIR || tmpdir(),
    pgBinDirs: list(env.DBBACKUP_PG_BIN_DIR),
    searchPath: list(env.PATH),
    s3: {
      endpoint: env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined,
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined,
      checksums: env.AWS_REQUEST_CHECKSUM_CALCULATION?.toLowerCase() === 'when_required' ? 'when_required' : 'when_supported',
    },
    gzipImplementation: env.DBBACKUP_GZIP?.trim().toLowerCase() || 'auto',
    igzipPath: env.DBBACKUP_IGZIP || undefined,
    pauseAt,
    resumeFile: env.DBBACKUP_TEST_RESUME_FILE || undefined,
    env: { ...env },
  };
}

/**
 * The process's own settings, read when called: the default of the core's entry points for a
 * library caller that passes none (the CLI and the functions read theirs once, at start, and
 * pass them). The one place the core reads the environment.
 */
export function defaultSettings(): Settings {
  return readSettings(process.env);
}
