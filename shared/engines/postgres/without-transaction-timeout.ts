import { Transform, type TransformCallback } from 'node:stream';

/**
 * The one line pg_dump and pg_restore 17 and 18 write that a server before 17 rejects: the archiver's
 * fixed preamble (`_doSetFixedOutputState` in pg_backup_archiver.c) sets it unconditionally, beside
 * statement_timeout, lock_timeout and idle_in_transaction_session_timeout, which every server we
 * restore into knows. Nothing else in that preamble is new since 16 (client 15, 17 and 18 write the
 * same SETs but this one).
 */
export const TRANSACTION_TIMEOUT_LINE = 'SET transaction_timeout = 0;';

/**
 * What may stand in the preamble, before the first statement of the dump itself: comments, blank
 * lines, psql's `\restrict` (pg_dump 17.6 and later), single-line SETs of a plain value, and the
 * search_path reset. Each is a whole statement on its own line, so no quote or COPY block is open
 * across them: a line that looks like the SET further down (in a function body, a string, a COPY
 * row) is never in the preamble, and is never touched.
 */
const PREAMBLE_LINE =
  /^(?:|--.*|\\restrict [A-Za-z0-9]+|SET [a-z_]+ = (?:[A-Za-z0-9_.]+|'[^'\\]*');|SELECT pg_catalog\.set_config\('search_path', '', false\);)$/;

/** A script passed on without the preamble's `SET transaction_timeout = 0;`; `dropped` says whether it held one. */
export interface WithoutTransactionTimeout extends Transform {
  readonly dropped: boolean;
}

/**
 * Passes a pg_dump script (a plain backup, or `pg_restore -f -`'s output) on unchanged but for one
 * line: `SET transaction_timeout = 0;` in its fixed preamble, at most once, for a server before 17,
 * which would reject it and so fail the whole restore. Lines are found across any split of the
 * input; once the preamble ends, the rest passes through as it comes, untouched.
 */
export function withoutTransactionTimeout(): WithoutTransactionTimeout {
  let pending: Buffer[] = [];
  let inPreamble = true;
  let dropped = false;
  /** One whole line (without its LF): kept, or the SET, dropped. */
  const judge = (line: Buffer): boolean => {
    const text = line.toString('latin1');
    if (!dropped && text === TRANSACTION_TIMEOUT_LINE) {
      dropped = true;
      return false;
    }
    if (!PREAMBLE_LINE.test(text)) inPreamble = false;
    return true;
  };
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      if (!inPreamble) {
        callback(null, chunk);
        return;
      }
      const kept: Buffer[] = [];
      let start = 0;
      for (let at = chunk.indexOf(10); at !== -1 && inPreamble; at = chunk.indexOf(10, at + 1)) {
        const piece = chunk.subarray(start, at + 1);
        const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        if (judge(line.subarray(0, -1))) kept.push(line);
        start = at + 1;
      }
      const rest = chunk.subarray(start);
      if (inPreamble) {
        if (rest.length > 0) pending.push(rest);
      } else {
        // The preamble ended in this chunk: what is held back and the rest go on as they are.
        kept.push(...pending, rest);
        pending = [];
      }
      callback(null, Buffer.concat(kept));
    },
    flush(callback: TransformCallback) {
      const last = Buffer.concat(pending);
      // A script that is only a preamble (cut short): its last line, whatever it is, goes on.
      callback(null, last);
    },
  });
  return Object.defineProperty(stream, 'dropped', { get: () => dropped }) as WithoutTransactionTimeout;
}
