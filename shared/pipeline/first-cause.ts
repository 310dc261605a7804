/**
 * An error that only says a stream or request was cut short because something else failed
 * first: a stream destroyed when its consumer stopped ("The operation was aborted", "Premature
 * close"), an upload aborted because its body failed.
 */
export function isKnockOn(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: string; name?: string };
  return (
    name === 'AbortError' || code === 'ABORT_ERR' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED'
  );
}

/**
 * Of the errors seen when a streaming pass failed (in the order they are most telling), the
 * first that is not a knock-on of another: a full disk makes the stream "aborted", a dump that
 * dies makes the upload "aborted", and the user should read the ENOSPC, or the dump's exit.
 */
export function firstCause(...errors: unknown[]): unknown {
  const seen = errors.filter((e) => e !== undefined && e !== null);
  return seen.find((e) => !isKnockOn(e)) ?? seen[0];
}
