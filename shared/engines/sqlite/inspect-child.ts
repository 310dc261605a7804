// The process that inspectSqliteFileAside starts: one inspection of the file named in its
// arguments, its report or its error sent back to the parent, then it exits.
import { inspectSqliteFile } from './sqlite-file.js';

const path = process.argv[2] ?? '';
let message: unknown;
try {
  message = { report: inspectSqliteFile(path) };
} catch (error) {
  const { message: text, code } = error as { message?: string; code?: unknown };
  message = { error: { message: text ?? String(error), code: typeof code === 'string' ? code : undefined } };
}
process.send?.(message, () => process.disconnect());
