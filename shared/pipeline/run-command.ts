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
  options: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    signal?: AbortSignal;
    /** Start it through a watchdog that stops it (SIGTERM) once this process is gone, even by SIGKILL. */
    diesWithThisProcess?: boolean;
  } = {},
): Promise<CommandResult> {
  const [file, argv] = options.diesWithThisProcess ? tiedToThisProcess(command, args) : [command, args];
  return new Promise((resolve, reject) => {
    execFile(
      file,
      argv,
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

/**
 * A shell watchdog around `command`: it runs the command, forwards SIGTERM, SIGINT and SIGHUP to
 * it, exits with its status, and stops it once this process is gone. Linux offers no
 * parent-death signal to Node, and a run killed by SIGKILL (or out of memory) would otherwise
 * leave, say, a pg_restore holding its session and locks for as long as it runs. The command's
 * stdin is passed on through another descriptor: a background job's own stdin is /dev/null
 * (dash applies that even to `<&0`). Checked once a second, by a watcher started after the command
 * (it stops the command itself, not the watchdog: the watchdog may be gone already, SIGKILLed by
 * stopChild's escalation or ended by a signal it does not trap, such as SIGQUIT, which a background
 * command ignores) and before any trap is set: a child of dash takes a signal that arrives before
 * it has reset an inherited trap as caught, and loses it (a watcher forked after the trap was seen
 * to miss its stop). It also stops with the watchdog, which waits for it, and takes its sleep with
 * it (SIGKILL, for the same reason): a run leaves no process behind, not even for the second. A
 * signal that reaches the watchdog before its trap ends it at once; its watcher then stops the
 * command within the second.
 */
const WATCHDOG = `parent=$1; shift
shell=$$
exec 3<&0
"$@" <&3 3<&- &
child=$!
exec 3<&-
( nap= quit=; trap 'quit=1; kill -KILL "$nap" 2>/dev/null' TERM
  while [ -z "$quit" ] && kill -0 "$parent" 2>/dev/null && kill -0 "$shell" 2>/dev/null; do
    sleep 1 & nap=$!
    [ -z "$quit" ] || kill -KILL "$nap" 2>/dev/null
    wait "$nap"; nap=
  done
  wait
  [ -n "$quit" ] || kill -TERM "$child" 2>/dev/null ) </dev/null >/dev/null 2>&1 &
watcher=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
wait "$child"; status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
kill "$watcher" 2>/dev/null; wait "$watcher"
exit "$status"`;

/** `command` and `args` as run through the watchdog, where there is one. */
export function tiedToThisProcess(command: string, args: readonly string[]): [string, readonly string[]] {
  // Windows ends a job's processes its own way; there is no /bin/sh to run the watchdog.
  if (process.platform === 'win32') return [command, args];
  return ['/bin/sh', ['-c', WATCHDOG, 'dbbackup-watchdog', String(process.pid), command, ...args]];
}
