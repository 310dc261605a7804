import { composeAlert } from '../shared/notify/alert.js';
import { sendAlert } from '../shared/notify/notifier.js';
import { type LambdaContext, logger, notifier } from './lambda-runtime.js';

/** What Lambda sends an on-failure destination when an asynchronous invocation failed for good. */
interface FailedInvocation {
  readonly requestContext?: { readonly requestId?: string; readonly functionArn?: string; readonly condition?: string };
  readonly requestPayload?: { readonly database?: string; readonly tier?: string };
  readonly responsePayload?: { readonly errorMessage?: string; readonly errorType?: string };
}

/**
 * Emails a backup that could not report its own failure: timed out, crashed, or out of memory.
 * It is the backup functions' on-failure destination, so every failed scheduled run reaches the
 * recipients even when the backup function never got to send its alert.
 */
export async function handler(event: FailedInvocation, context: LambdaContext): Promise<void> {
  logger.addContext(context as never);
  const error = event.responsePayload?.errorMessage ?? event.requestContext?.condition ?? 'the invocation failed';
  const message = composeAlert({
    kind: 'failure',
    database: String(event.requestPayload?.database ?? 'unknown database'),
    tier: String(event.requestPayload?.tier ?? 'daily'),
    error: `${error} (${event.requestContext?.functionArn ?? 'backup function'}, ${event.requestContext?.condition ?? 'failed'})`,
    at: new Date(),
    runId: event.requestContext?.requestId ?? context.awsRequestId,
  });
  await sendAlert(notifier, message, (m, fields) => logger.info(m, fields));
}
