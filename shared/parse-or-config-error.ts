import type { z } from 'zod';
import { ConfigError, isOptionName, type Wording } from './errors.js';
import { redactLocation } from './redact.js';

/**
 * Parses with zod; the first problem becomes `field must … (got value)`. The value is shown as a
 * location with its secrets redacted (a URL given where another belongs keeps its password to
 * itself); an object or array is named, not shown, and keys that do not belong are named by
 * zod's message alone: their values may be anything, a password included.
 */
export function parseOrConfigError<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') || 'options';
  // An option of a request is named in the front end's words (--keep-daily on the CLI).
  const field = (w: Wording) => (isOptionName(path) ? w.option(path) : path);
  const message = issue?.message ?? 'invalid';
  if (issue?.code === 'unrecognized_keys') throw new ConfigError((w) => `${field(w)}: ${message}`);
  let got: unknown = input;
  for (const part of issue?.path ?? []) got = (got as Record<PropertyKey, unknown> | undefined)?.[part as PropertyKey];
  throw new ConfigError((w) => `${field(w)}: ${message} (got ${shown(got)})`);
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(redactLocation(value));
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}
