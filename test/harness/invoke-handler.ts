/**
 * Invokes a compiled Lambda handler the way the Lambda runtime does: imports the module from the
 * build output the container image holds, calls `handler(event, context)` once, and prints
 * `RESULT <json>` or `ERROR <json>` (the runtime's errorType/errorMessage) on the last line.
 * Usage: node invoke-handler.js <dist/functions/x.js> '<event json>'
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Callback, Context, Handler } from 'aws-lambda';

const [modulePath, eventJson] = process.argv.slice(2);
if (!modulePath || !eventJson) throw new Error('usage: invoke-handler <module> <event json>');
/** The callback style is for handlers that do not return a promise; dbbackup's all do. */
/** The function's time limit: Lambda's 15 minutes, or what DBBACKUP_TEST_LAMBDA_TIMEOUT_MS sets (a test of running out of time). */
const deadline = Date.now() + Number(process.env.DBBACKUP_TEST_LAMBDA_TIMEOUT_MS || 900_000);
const noCallbacks = (): never => {
  throw new Error('dbbackup handlers return a promise; the callback-style context methods are not used');
};
const context: Context = {
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'dbbackup-test',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:dbbackup-test',
  memoryLimitInMB: '3584',
  awsRequestId: randomUUID(),
  logGroupName: '/aws/lambda/dbbackup-test',
  logStreamName: `2026/11/21/[$LATEST]${randomUUID().replace(/-/g, '')}`,
  getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  done: noCallbacks,
  fail: noCallbacks,
  succeed: noCallbacks,
};
const callback: Callback = noCallbacks;
try {
  const { handler } = (await import(pathToFileURL(modulePath).href)) as { handler: Handler };
  const result = await handler(JSON.parse(eventJson), context, callback);
  process.stdout.write(`RESULT ${JSON.stringify(result ?? null)}\n`);
} catch (error) {
  process.stdout.write(`ERROR ${JSON.stringify({ errorType: (error as Error).name, errorMessage: (error as Error).message })}\n`);
  process.exitCode = 1;
}
// Lambda ends an invocation when the handler's promise settles and freezes whatever is still open
// (a request to an endpoint that stopped answering); so does this, after a moment for the output.
setTimeout(() => process.exit(), 500).unref();
