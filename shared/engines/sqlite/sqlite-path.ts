import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError } from '../../errors.js';
import { redactLocation } from '../../redact.js';

const HINT = 'write # as %23, ? as %3F and % as %25 in a sqlite: URL, or give the plain path';

/**
 * The file a SQLite URL names: `sqlite:///abs/x.db` → `/abs/x.db`; `sqlite:rel/x.db` →
 * `rel/x.db`; `sqlite://localhost/abs` too; a plain path is itself. A URL is percent-decoded
 * (`%41` is `A`, `%25` is `%`), and a raw `#` or `?` in one is refused: a URL reading would cut
 * the path there and name another file.
 */
export function sqlitePath(url: string): string {
  if (!/^sqlite:/i.test(url)) return url;
  const rest = url.slice('sqlite:'.length);
  const cut = /[#?]/.exec(rest)?.[0];
  if (cut) {
    throw new ConfigError(`SQLite URL "${redactLocation(url)}" holds a raw "${cut}", which would end its path there`, {
      hint: HINT,
    });
  }
  if (rest.startsWith('//')) {
    try {
      return fileURLToPath(`file:${rest}`);
    } catch (cause) {
      throw new ConfigError(`invalid SQLite URL "${redactLocation(url)}"`, {
        hint: `use sqlite:///absolute/path.db; ${HINT}`,
        cause,
      });
    }
  }
  if (!rest) throw new ConfigError(`SQLite URL "${url}" names no file`, { hint: 'use sqlite:///absolute/path.db' });
  try {
    return decodeURIComponent(rest);
  } catch (cause) {
    throw new ConfigError(`invalid SQLite URL "${redactLocation(url)}": a % is not followed by two hex digits`, {
      hint: HINT,
      cause,
    });
  }
}

/**
 * The `sqlite:` URL of an absolute path, which `sqlitePath` reads back as exactly that path:
 * `%`, `#`, `?`, `\`, spaces and control characters are percent-encoded (as Node's file URLs
 * do). Every URL dbbackup builds from a SQLite path is built here.
 */
export function sqliteUrl(path: string): string {
  return `sqlite:${pathToFileURL(path).href.slice('file:'.length)}`;
}
