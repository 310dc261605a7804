/**
 * Invokes a compiled Lambda handler the way the Lambda runtime does: imports the module from the
 * build output the container image holds, calls `handler(event, context)` once, and prints
 * `RESULT <json>` or `ERROR <json>` (the runtime's errorType/errorMessage) on the last line.
 * Usage: node invoke-handler.js <dist/functions/x.js> '<event json>'
 */
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const [modulePath, eventJson] = process.argv.slice(2);
if (!modulePath || !eventJson) throw new Error('usage: invoke-handler <module> <event json>');
const context = {
  awsRequestId: randomUUID(),
  functionName: 'dbbackup-test',
  logGroupName: '/aws/lambda/dbbackup-test',
  logStreamName: `2026/11/21/[$LATEST]${randomUUID().replace(/-/g, '')}`,
  getRemainingTimeInMillis: () => 900_000,
};
try {
  const { handler } = (await import(pathToFileURL(modulePath).href)) as { handler: (e: unknown, c: unknown) => Promise<unknown> };
  const result = await handler(JSON.parse(eventJson), context);
  process.stdout.write(`RESULT ${JSON.stringify(result ?? null)}\n`);
} catch (error) {
  process.stdout.write(`ERROR ${JSON.stringify({ errorType: (error as Error).name, errorMessage: (error as Error).message })}\n`);
  process.exitCode = 1;
}
