/**
 * Redaction by structure. A location (a URL, or a libpq `key=value` connection string) is
 * parsed, and each of its secret fields is replaced: a URL's password, and every parameter that
 * holds a secret. Text that may quote a location is cleaned with the values that parsing found,
 * in each form they can be written in. Nothing here guesses at a secret by the look of the text.
 */

/** What a secret is shown as. */
export const REDACTED = '***';

/**
 * Whether a parameter (of a URL's query or a `key=value` string) holds a secret. Engines name
 * theirs (see `isSecretParameter` in engines/registry.ts); where nothing says which parameters
 * are safe to show, every one is taken for a secret.
 */
export type SecretParameterTest = (name: string) => boolean;

const EVERY_PARAMETER: SecretParameterTest = () => true;

/** A location taken apart: how to show it, and the secret values it holds. */
export interface ParsedLocation {
  /** The location with every secret field replaced by `***`. */
  readonly shown: string;
  /** The values of its secret fields, as written and decoded. */
  readonly secrets: readonly string[];
  /**
   * The URL, when the WHATWG parser reads it as its writer evidently meant it: undefined when
   * it cannot parse it, or when an `@` after the host shows that a password holding `/`, `?`
   * or `#` was cut short there (the rest would be read as host, path or query).
   */
  readonly url?: URL;
}

/**
 * Parses `text` as a location: a URL (`scheme://user:password@host/path?query`), a libpq
 * `key=value` string, or neither (a path, shown as it is).
 */
export function parseLocation(text: string, isSecret: SecretParameterTest = EVERY_PARAMETER): ParsedLocation {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[0];
  // `C:\dir` and `C:/dir` are Windows paths, not URLs of scheme "c".
  if (scheme !== undefined && !/^[a-z]:[\\/]/i.test(text)) return parseUrl(text, scheme, isSecret);
  if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(text)) return parseKeywords(text, isSecret);
  return { shown: text, secrets: [] };
}

/** `text` with every secret field replaced by `***`. */
export function redactLocation(text: string, isSecret: SecretParameterTest = EVERY_PARAMETER): string {
  return parseLocation(text, isSecret).shown;
}

/** The secret values `text` holds, as written and decoded: what {@link redactText} removes from other text. */
export function locationSecrets(text: string, isSecret: SecretParameterTest = EVERY_PARAMETER): string[] {
  return [...parseLocation(text, isSecret).secrets];
}

/** Secrets this short are not searched for in text: they would turn ordinary words into `***`. */
const MIN_SECRET_LENGTH = 3;

/**
 * Replaces each secret in `text`, in every form it can be written in there: as it is,
 * percent-encoded (as in a URL) and escaped as in JSON (as in a log line).
 */
export function redactText(text: string, secrets: Iterable<string | undefined>): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of [secret, encodeURIComponentSafe(secret), ...[secret, encodeURIComponentSafe(secret)].map(jsonEscaped)]) {
      if (form.length >= MIN_SECRET_LENGTH) forms.add(form);
    }
  }
  // Longest first, so that a secret inside another is not replaced first and leaves the rest.
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) out = out.split(form).join(REDACTED);
  return out;
}

/** Decodes percent-escapes, or returns undefined where one is malformed (`%zz`, a cut UTF-8 sequence). */
export function percentDecoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

function parseUrl(text: string, scheme: string, isSecret: SecretParameterTest): ParsedLocation {
  const slashes = text.startsWith('//', scheme.length) ? '//' : '';
  const rest = text.slice(scheme.length + slashes.length);
  // The authority ends at the first /, ? or #, and its user information at the last @ before
  // that. An @ further on, after an authority holding a ":", is where a password with a /, ?
  // or # really ended: `postgres://app:12/ab@db/x` is not port 12 of host "app".
  const authorityEnd = indexOrEnd(rest, /[/?#]/);
  const lastAt = rest.lastIndexOf('@');
  const cut = lastAt > authorityEnd && rest.slice(0, authorityEnd).includes(':');
  const secrets: string[] = [];

  if (cut) {
    // A password with an unencoded /, ? or #: everything up to the last @ is taken for user
    // information, and none of it is shown (where the user name ends is anyone's guess).
    const userinfo = rest.slice(0, lastAt);
    const colon = userinfo.indexOf(':');
    addForms(secrets, colon >= 0 ? userinfo.slice(colon + 1) : userinfo);
    const tail = splitTail(rest.slice(lastAt + 1), isSecret, secrets);
    return { shown: `${scheme}${slashes}${REDACTED}@${tail}`, secrets };
  }

  const at = rest.lastIndexOf('@', authorityEnd);
  const userinfo = at >= 0 ? rest.slice(0, at) : '';
  const afterUserinfo = rest.slice(at + 1);
  const colon = userinfo.indexOf(':');
  const user = colon >= 0 ? userinfo.slice(0, colon) : userinfo;
  if (colon >= 0) addForms(secrets, userinfo.slice(colon + 1));
  const tail = splitTail(afterUserinfo, isSecret, secrets);
  const shownUserinfo = at >= 0 ? `${user}${colon >= 0 ? `:${REDACTED}` : ''}@` : '';

  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  // The WHATWG parser drops tabs and newlines and re-encodes what it keeps: its spelling counts too.
  if (url?.password) addForms(secrets, url.password);
  return { shown: `${scheme}${slashes}${shownUserinfo}${tail}`, secrets: unique(secrets), url };
}

/** `host/path?query#fragment` with the secret parameters of the query, and any fragment, replaced. */
function splitTail(tail: string, isSecret: SecretParameterTest, secrets: string[]): string {
  const hash = tail.indexOf('#');
  const beforeHash = hash >= 0 ? tail.slice(0, hash) : tail;
  const question = beforeHash.indexOf('?');
  const fragment = hash >= 0 ? `#${REDACTED}` : '';
  if (hash >= 0) addForms(secrets, tail.slice(hash + 1));
  if (question < 0) return `${beforeHash}${fragment}`;
  const query = beforeHash
    .slice(question + 1)
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals >= 0 ? pair.slice(0, equals) : pair;
      if (equals < 0 || !isSecret(percentDecoded(name) ?? name)) return pair;
      addForms(secrets, pair.slice(equals + 1));
      return `${name}=${REDACTED}`;
    })
    .join('&');
  return `${beforeHash.slice(0, question)}?${query}${fragment}`;
}

/**
 * A libpq `key=value` string (`host=db password='two words'`): values may be single-quoted,
 * with `\'` and `\\` escaped. What cannot be read as such a pair is not shown.
 */
function parseKeywords(text: string, isSecret: SecretParameterTest): ParsedLocation {
  const shown: string[] = [];
  const secrets: string[] = [];
  let at = 0;
  const skipSpace = () => {
    while (at < text.length && /\s/.test(text[at] as string)) at++;
  };
  for (skipSpace(); at < text.length; skipSpace()) {
    const key = /^[A-Za-z_][A-Za-z0-9_]*\s*=\s*/.exec(text.slice(at));
    if (!key) {
      // Not a pair: the rest may be anything, a secret's end included.
      addForms(secrets, text.slice(at));
      shown.push(REDACTED);
      break;
    }
    const name = (key[0].split('=')[0] as string).trim();
    at += key[0].length;
    const start = at;
    let value = '';
    const quoted = text[at] === "'";
    if (quoted) at++;
    while (at < text.length && (quoted ? text[at] !== "'" : !/\s/.test(text[at] as string))) {
      if (text[at] === '\\' && at + 1 < text.length) at++;
      value += text[at];
      at++;
    }
    if (quoted) at++;
    const written = text.slice(start, at);
    if (isSecret(name)) {
      addForms(secrets, value);
      addForms(secrets, written);
      shown.push(`${name}=${REDACTED}`);
    } else {
      shown.push(`${name}=${written}`);
    }
  }
  return { shown: shown.join(' '), secrets: unique(secrets) };
}

/** Adds a secret as written and, where it differs, percent-decoded. */
function addForms(secrets: string[], written: string): void {
  if (!written) return;
  secrets.push(written);
  const decoded = percentDecoded(written);
  if (decoded !== undefined && decoded !== written) secrets.push(decoded);
}

function indexOrEnd(text: string, pattern: RegExp): number {
  const found = text.search(pattern);
  return found < 0 ? text.length : found;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

function jsonEscaped(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/** encodeURIComponent, except for text it cannot encode (a lone surrogate), which stays as it is. */
function encodeURIComponentSafe(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return text;
  }
}
