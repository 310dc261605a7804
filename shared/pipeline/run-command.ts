import { execFile } from 'node:child_process';

/** What a short command printed, and how it exited. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a short command (a version probe) to completion. Resolves for any exit code; rejects only
 * when the command cannot be started (e.g. ENOENT), with the errno error, or when `signal`
 * aborts (the command is killed), with its reason.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: options.env, timeout: options.timeoutMs ?? 15_000, maxBuffer: 256 << 20, signal: options.signal },
      (error, stdout, stderr) => {
        // Aborted: the child was killed (SIGTERM); the run fails with the reason it was stopped for.
        if (options.signal?.aborted) return reject(options.signal.reason);
        if (error && typeof error.code === 'string') return reject(error);
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
