import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../errors.js';
import { redactLocation } from '../../redact.js';

/**
 * The file a SQLite URL names: `sqlite:///abs/x.db` → `/abs/x.db`; `sqlite:rel/x.db` →
 * `rel/x.db`; `sqlite://localhost/abs` too; a plain path is itself.
 */
export function sqlitePath(url: string): string {
  if (!/^sqlite:/i.test(url)) return url;
  const rest = url.slice('sqlite:'.length);
  if (rest.startsWith('//')) {
    try {
      return fileURLToPath(`file:${rest}`);
    } catch (cause) {
      throw new ConfigError(`invalid SQLite URL "${redactLocation(url)}"`, { hint: 'use sqlite:///absolute/path.db', cause });
    }
  }
  if (!rest) throw new ConfigError(`SQLite URL "${url}" names no file`, { hint: 'use sqlite:///absolute/path.db' });
  return decodeURIComponent(rest);
}
