import { z } from 'zod';
import { TIERS } from './deployment-config.js';

/** The event a schedule (or a person, from the console) sends a backup: `{ "database": …, "tier": … }`. */
export const scheduledBackupEventSchema = z
  .object({
    database: z.string().min(1),
    tier: z.enum(TIERS).default('daily'),
  })
  .strict();

/**
 * Which database and tier a backup run is of: its log keys and its metrics' dimensions. A type,
 * not an interface, so it passes where Powertools takes a `Record<string, …>` of keys.
 */
export type BackupLabels = {
  readonly database: string;
  readonly tier: string;
};

/**
 * What an event says, for logs, metric dimensions and alerts, whether or not it is valid: the
 * database (or `fallbackDatabase`) and the tier (daily unless it says otherwise). For a valid
 * event these are exactly its parsed values.
 */
export function backupEventLabels(input: unknown, fallbackDatabase = 'unknown database'): BackupLabels {
  const event = (typeof input === 'object' && input !== null ? input : {}) as { database?: unknown; tier?: unknown };
  const label = (value: unknown, fallback: string) =>
    value === undefined || value === null || value === '' ? fallback : String(value);
  return { database: label(event.database, fallbackDatabase), tier: label(event.tier, 'daily') };
}
