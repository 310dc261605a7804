import { InvokeCommand, LambdaClient, ListTagsCommand, paginateListFunctions } from '@aws-sdk/client-lambda';
import { databaseTag, groupOfFunction } from './deployment-names.js';
import { ConfigError, DbBackupError, StorageError } from '../errors.js';

/** What a deployed function answered. */
export interface InvocationResult {
  readonly functionName: string;
  /** The function's return value, or its error as the Lambda runtime reports it. */
  readonly payload: unknown;
  readonly failed: boolean;
  /** The whole lines of the last 4 KB of the invocation's log. */
  readonly logTail: string;
}

/** An invocation that the function itself failed (its error, not ours). */
export class FunctionError extends DbBackupError {}

/**
 * Invokes a deployed dbbackup function and waits for it (up to its 15 minutes), returning its
 * result and the tail of its log.
 */
export async function invokeFunction(
  functionName: string,
  event: unknown,
  client = new LambdaClient({ requestHandler: { requestTimeout: 16 * 60_000 } }),
): Promise<InvocationResult> {
  let response;
  try {
    response = await client.send(
      new InvokeCommand({
        FunctionName: functionName,
        InvocationType: 'RequestResponse',
        LogType: 'Tail',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'ResourceNotFoundException') {
      throw new ConfigError(`no function named ${functionName}`, {
        hint: (w) =>
          `check ${w.option('stack')} and ${w.option('database')} (or pass ${w.option('functionName')}), and the AWS region; a database on the Fargate runner has no backup function: run the command in the stack output RunBackupTask<database>`,
        cause: error,
      });
    }
    if (name === 'CredentialsProviderError')
      throw new ConfigError('no AWS credentials found', {
        hint: 'set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
        cause: error,
      });
    throw new StorageError(`invoking ${functionName} failed: ${name}: ${(error as Error).message}`, { cause: error });
  }
  const text = response.Payload ? Buffer.from(response.Payload).toString('utf8') : 'null';
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = text;
  }
  return {
    functionName,
    payload,
    failed: Boolean(response.FunctionError),
    logTail: response.LogResult ? wholeLines(Buffer.from(response.LogResult, 'base64')) : '',
  };
}

/**
 * Finds the function of a deployment that serves a database: among the stack's functions of that
 * role (one per database group), the one tagged with the database's name.
 */
export async function findDeployedFunction(
  stack: string,
  database: string,
  role: 'backup' | 'restore',
  client = new LambdaClient({}),
): Promise<string> {
  try {
    for await (const page of paginateListFunctions({ client }, {})) {
      for (const fn of page.Functions ?? []) {
        if (!fn.FunctionName || !fn.FunctionArn || !groupOfFunction(fn.FunctionName, stack, role)) continue;
        const { Tags } = await client.send(new ListTagsCommand({ Resource: fn.FunctionArn }));
        if (Tags && Object.hasOwn(Tags, databaseTag(database))) return fn.FunctionName;
      }
    }
  } catch (error) {
    if ((error as Error).name === 'CredentialsProviderError')
      throw new ConfigError('no AWS credentials found', {
        hint: 'set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY',
        cause: error,
      });
    throw new StorageError(`listing the functions of ${stack} failed: ${(error as Error).name}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  throw new ConfigError(`no ${role} function of stack ${stack} serves a database named ${database}`, {
    hint: (w) =>
      `check ${w.option('stack')} and ${w.option('database')} (or pass ${w.option('functionName')}), and the AWS region; a database on the Fargate runner has no backup function: run the command in its group's stack output RunBackupTask<database>`,
  });
}

/** What Lambda returns of an invocation's log: its last 4 KB. */
const LOG_TAIL_BYTES = 4096;

/**
 * The tail without its first line when Lambda cut the log there: a line cut short may begin with
 * the end of a secret whose start, which named it, was cut off.
 */
function wholeLines(tail: Buffer): string {
  const text = tail.toString('utf8');
  if (tail.length < LOG_TAIL_BYTES) return text;
  const newline = text.indexOf('\n');
  return newline < 0 ? '' : text.slice(newline + 1);
}
