/**
 * Removes secrets from text before it reaches a log, a manifest or an error message.
 */

const REDACTED = '***';

/** Returns the URL with any password replaced by `***`; unparseable input is returned unchanged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) {
      parsed.password = REDACTED;
      return parsed.toString();
    }
    return url;
  } catch {
    return url.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/, `$1${REDACTED}@`);
  }
}

/** Replaces every occurrence of each non-empty secret, and any URL password, in `text`. */
export function redactText(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi, `$1${REDACTED}@`);
  for (const secret of secrets) {
    if (secret && secret.length >= 3) out = out.split(secret).join(REDACTED);
  }
  return out;
}
