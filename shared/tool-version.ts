import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/** This package's version, from the nearest package.json above this module (source or dist). */
export function toolVersion(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'dbbackup' && pkg.version) {
        cached = pkg.version;
        return cached;
      }
    } catch {}
    dir = dirname(dir);
  }
  cached = 'unknown';
  return cached;
}
