import type { AlertMessage } from './alert.js';

/** Where alerts go. `send` rejects when the message could not be handed over. */
export interface Notifier {
  readonly description: string;
  send(message: AlertMessage): Promise<void>;
}

/**
 * Sends an alert and never throws: an alert that cannot be sent is logged with the reason,
 * and must never hide the result (or the error) of the backup it is about.
 */
export async function sendAlert(
  notifier: Notifier,
  message: AlertMessage,
  log: (event: string, fields: Record<string, unknown>) => void,
  /** Where a failed send is reported (a runtime logs it at ERROR and counts it). @default log */
  logFailure: (event: string, fields: Record<string, unknown>) => void = log,
): Promise<boolean> {
  try {
    await notifier.send(message);
    log('alert sent', { to: notifier.description, subject: message.subject });
    return true;
  } catch (error) {
    logFailure('alert failed', { to: notifier.description, subject: message.subject, error: (error as Error).message });
    return false;
  }
}
