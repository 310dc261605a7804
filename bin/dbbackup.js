#!/usr/bin/env node
// Launcher: runs the compiled CLI. `npm ci` compiles it (the "prepare" script).
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('dbbackup: the CLI is not built yet; run "npm run build" (or "npm ci") in the dbbackup folder\n');
  process.exit(2);
}
await import(main.href);
