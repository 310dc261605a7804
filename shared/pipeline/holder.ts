import { createHash } from 'node:crypto';
import { promises as fs, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Who holds a lock or a temp file: enough for another process to tell whether the holder is
 * still alive. On the same machine (the same kernel and pid namespace) a holder is judged by its
 * process, alive only while a process with its pid and its start time exists (a pid reused after
 * a crash does not count). From elsewhere (a lock on EFS, seen from another task) it cannot be
 * judged, and the heartbeat decides: see {@link isStale}.
 */
export interface Holder {
  readonly host: string;
  readonly pid: number;
  /** The kernel and pid namespace its pid belongs to: a hash of the boot id and namespace (Linux), else of the host name. */
  readonly machine: string;
  /** When the process started, in the kernel's clock ticks since boot (Linux), to tell a reused pid. */
  readonly started?: string;
}

/** How often a holder touches what it holds, so that a holder elsewhere can see it is alive. */
export const HEARTBEAT_MS = 15_000;

/**
 * Untouched for this long, a lock or temp file whose holder cannot be judged from here is stale:
 * eight missed heartbeats, room for a holder whose event loop is busy for a while (a long SQLite
 * snapshot step) without leaving a crashed run's lock in the way for hours.
 */
export const LEASE_MS = 2 * 60_000;

let self: Holder | undefined;

/** This process, as a holder. */
export function thisProcess(): Holder {
  if (!self) {
    const boot = readQuietly(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    const namespace = readQuietly(() => readlinkSync('/proc/self/ns/pid'));
    const machine = createHash('sha256')
      .update(`${boot ?? hostname()}|${namespace ?? ''}`)
      .digest('hex')
      .slice(0, 12);
    self = { host: hostname(), pid: process.pid, machine, started: startTicks(process.pid) };
  }
  return self;
}

/**
 * Whether a holder is alive: `unknown` when it ran elsewhere (or the record is not one), else
 * whether its process still runs.
 */
export function holderState(holder: unknown): 'alive' | 'gone' | 'unknown' {
  const h = holder as Partial<Holder> | undefined;
  if (typeof h?.pid !== 'number' || typeof h.machine !== 'string' || h.machine !== thisProcess().machine) return 'unknown';
  try {
    process.kill(h.pid, 0);
  } catch (error) {
    // EPERM: a process of another user has that pid, so it exists.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return 'gone';
  }
  if (h.started !== undefined) {
    const now = startTicks(h.pid);
    if (now !== undefined && now !== h.started) return 'gone';
  }
  return 'alive';
}

/**
 * Whether what `holder` holds (last touched at `mtimeMs`) may be taken over or removed: at once
 * when its holder's process is gone, never while it runs, and after {@link LEASE_MS} without a
 * heartbeat when it cannot be told from here.
 */
export function isStale(holder: unknown, mtimeMs: number, now = Date.now()): boolean {
  const state = holderState(holder);
  if (state !== 'unknown') return state === 'gone';
  return now - mtimeMs > LEASE_MS;
}

/** Touches `path` every {@link HEARTBEAT_MS} until the returned function is called. */
export function heartbeat(path: string): () => void {
  const timer = setInterval(() => {
    const now = new Date();
    fs.utimes(path, now, now).catch(() => {});
  }, HEARTBEAT_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** A holder as a file name part: `<machine>-<pid>-<started>`. */
export function holderToken(holder: Holder = thisProcess()): string {
  return `${holder.machine}-${holder.pid}-${holder.started ?? 'x'}`;
}

/** The part of a file name that {@link holderToken} wrote. */
export const HOLDER_TOKEN_PATTERN = '[0-9a-f]{12}-\\d+-(?:\\d+|x)';

/** The holder a {@link holderToken} names, or undefined if `token` is not one. */
export function holderOfToken(token: string): Holder | undefined {
  const match = /^([0-9a-f]{12})-(\d+)-(\d+|x)$/.exec(token);
  if (!match) return undefined;
  return { host: '', machine: match[1] as string, pid: Number(match[2]), started: match[3] === 'x' ? undefined : match[3] };
}

/** A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), where Linux tells. */
function startTicks(pid: number): string | undefined {
  const stat = readQuietly(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields?.[19];
}

function readQuietly<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
