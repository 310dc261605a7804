import { z } from 'zod';
import { isSecretParameter } from '../engines/registry.js';
import { redactLocation } from '../redact.js';

/**
 * What a button of the console widget asks for, as its `<cwdb-action>` sends it (the dashboard
 * passes those parameters at the top of the widget's event). Each is strict: a field no button
 * sends makes the request refused, never ignored.
 */
export const consoleActionSchema = z.discriminatedUnion('action', [
  /** Re-reads one backup of a database (read-only). */
  z.object({ action: z.literal('verify'), database: z.string().min(1).max(200), file: z.string().min(1).max(300) }).strict(),
  /** Runs the deployment's health check now. */
  z.object({ action: z.literal('health') }).strict(),
  /** A dry run of the newest backup's restore; `field` names the form field that holds the destination. */
  z
    .object({
      action: z.literal('restore-dry-run'),
      database: z.string().min(1).max(200),
      field: z.string().regex(/^destination-\d{1,4}$/, 'must name a destination field of the widget'),
    })
    .strict(),
]);
export type ConsoleAction = z.infer<typeof consoleActionSchema>;

/** The one line saying why a button's request was refused: nothing was done. */
export function refusedAction(input: unknown, error: z.ZodError): string {
  const action =
    input !== null && typeof input === 'object' && 'action' in input ? (input as { action: unknown }).action : undefined;
  const issue = error.issues[0];
  if (issue?.path[0] === 'action' || action === undefined)
    return `unknown action ${JSON.stringify(action ?? null).slice(0, 60)}: the widget knows verify, health and restore-dry-run; nothing was done`;
  const name = String(action).slice(0, 40);
  if (issue?.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => JSON.stringify(k.slice(0, 40))).join(', ');
    return `refused ${name}: ${keys} ${issue.keys.length > 1 ? 'are not fields' : 'is not a field'} of this action; nothing was done`;
  }
  return `refused ${name}: ${issue?.path.join('.') || 'the request'} ${issue?.message ?? 'is invalid'}; nothing was done`;
}

/** Control characters: no database URL or file path holds one, and a log line would be forged with them. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The destination typed into the widget's form: empty for the database itself (the restore
 * function then connects with the database's restore secret), or a database URL or SQLite path
 * without any password. A password typed into a dashboard would sit in its form, the widget's
 * event and the restore function's event: refused, with the way that needs none.
 */
export const widgetDestinationSchema = z
  .string()
  .max(500, 'is longer than any destination (500 characters at most)')
  .transform((value) => value.trim())
  .refine((value) => !CONTROL.test(value), 'holds a control character')
  .refine(
    (value) => redactLocation(value, isSecretParameter) === value,
    'holds a password: the widget takes none (it would show in the dashboard); leave it empty to use the database’s restore secret, or invoke the restore function by hand',
  )
  .transform((value) => (value === '' ? undefined : value));
