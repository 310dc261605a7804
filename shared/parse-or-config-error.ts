import type { z } from 'zod';
import { ConfigError } from './errors.js';

/** Parses with zod; the first problem becomes `field must … (got value)`. */
export function parseOrConfigError<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || 'options';
  let got: unknown = input;
  for (const part of issue?.path ?? []) got = (got as Record<PropertyKey, unknown> | undefined)?.[part as PropertyKey];
  const shown = got === undefined ? 'nothing' : JSON.stringify(got);
  throw new ConfigError(`${field}: ${issue?.message ?? 'invalid'} (got ${shown})`);
}
