import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { text } from 'node:stream/consumers';
import { after, before, describe, test } from 'node:test';
import { freePort } from '../harness/postgres-cluster.js';
import { cli } from '../harness/test-env.js';

/**
 * A stand-in for the Lambda Invoke API (there is no local Lambda among our test parts): it
 * records what the real SDK client sends and answers as Lambda does, with a log tail and, for
 * a function named "…-broken-…", the runtime's error payload.
 */
/** The stand-in's functions: two groups' of stack Prod, one of DbBackup, by the databases each serves. */
const DEPLOYED: Record<string, string[]> = {
  'Prod-n00aa11-1-backup': ['billing'],
  'Prod-n00aa11-2-backup': ['school', 'library'],
  'Prod-n00aa11-2-restore': ['school', 'library'],
  'DbBackup-n77bb22-1-restore': ['school'],
  'Other-n77bb22-1-backup': ['school'],
};
const arn = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;

describe('dbbackup invoke (against a stand-in Lambda endpoint)', () => {
  let server: Server;
  let endpoint: string;
  const calls: Array<{ name: string; event: unknown; logType: string | undefined }> = [];

  before(async () => {
    const port = await freePort();
    server = createServer(async (request, response) => {
      const body = await text(request);
      // ListFunctions and ListTags: how the CLI finds the group function that serves a database.
      if (request.method === 'GET' && /^\/2015-03-31\/functions\/?(\?|$)/.test(request.url ?? '')) {
        response.end(
          JSON.stringify({ Functions: Object.keys(DEPLOYED).map((name) => ({ FunctionName: name, FunctionArn: arn(name) })) }),
        );
        return;
      }
      const tagged = /^\/2017-03-31\/tags\/([^?]+)/.exec(request.url ?? '')?.[1];
      if (request.method === 'GET' && tagged) {
        const name = decodeURIComponent(tagged).split(':').at(-1) ?? '';
        response.end(
          JSON.stringify({ Tags: Object.fromEntries((DEPLOYED[name] ?? []).map((db) => [`dbbackup:database:${db}`, 'served'])) }),
        );
        return;
      }
      const name = decodeURIComponent(/\/functions\/([^/]+)\/invocations/.exec(request.url ?? '')?.[1] ?? '');
      calls.push({ name, event: JSON.parse(body), logType: request.headers['x-amz-log-type'] as string | undefined });
      response.setHeader(
        'x-amz-log-result',
        Buffer.from(`START RequestId: abc\n{"message":"backup completed"}\nEND RequestId: abc\n`).toString('base64'),
      );
      if (name.includes('-broken-')) {
        response.setHeader('x-amz-function-error', 'Unhandled');
        response.end(
          JSON.stringify({ errorType: 'Error', errorMessage: 'pg_dump of postgres://app@db/school exited with code 1' }),
        );
        return;
      }
      response.end(JSON.stringify({ backup_file: 'backup_school_20261121_230000.dump.gz', status: 'completed' }));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${port}`;
  });

  // The function is the stack's group function tagged with the database (one function serves a
  // group of databases), no longer one named <stack>-<database>-backup.
  test('invoke backup finds the function of --stack that serves --database, sends the event, waits and prints the result', async () => {
    const result = await cli(['invoke', 'backup', '--database', 'school', '--tier', 'weekly', '--stack', 'Prod'], {
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: endpoint },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(calls.at(-1), {
      name: 'Prod-n00aa11-2-backup',
      event: { database: 'school', tier: 'weekly' },
      logType: 'Tail',
    });
    assert.equal(JSON.parse(result.stdout).status, 'completed');
  });

  test('invoke restore sends the selection and the confirmation', async () => {
    const result = await cli(['invoke', 'restore', '--database', 'school', '--latest', '--confirm', 'school'], {
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: endpoint },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(calls.at(-1)?.event, { database: 'school', latest: true, confirm: 'school' });
    assert.equal(calls.at(-1)?.name, 'DbBackup-n77bb22-1-restore');
  });

  test("a function's own failure: exit 1, its error on one line, and its log", async () => {
    const result = await cli(['invoke', 'backup', '--database', 'x', '--function-name', 'Prod-broken-backup'], {
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: endpoint },
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /^dbbackup invoke: Prod-broken-backup failed: pg_dump of postgres:\/\/app@db\/school exited with code 1$/m,
    );
    assert.match(result.stderr, /--- log of Prod-broken-backup \(last 4 KB\) ---\nSTART RequestId: abc/);
  });

  test('a database no function of the stack serves: exit 2, one line naming the stack and the database', async () => {
    const result = await cli(['invoke', 'backup', '--database', 'nowhere', '--stack', 'Prod'], {
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: endpoint },
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^dbbackup invoke: no backup function of stack Prod serves a database named nowhere/m);
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
});
