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
describe('dbbackup invoke (against a stand-in Lambda endpoint)', () => {
  let server: Server;
  let endpoint: string;
  const calls: Array<{ name: string; event: unknown; logType: string | undefined }> = [];

  before(async () => {
    const port = await freePort();
    server = createServer(async (request, response) => {
      const body = await text(request);
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

  test('invoke backup derives the function from --stack and --database, sends the event, waits and prints the result', async () => {
    const result = await cli(['invoke', 'backup', '--database', 'school', '--tier', 'weekly', '--stack', 'Prod'], {
      env: { ...process.env, AWS_ENDPOINT_URL_LAMBDA: endpoint },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(calls.at(-1), {
      name: 'Prod-school-backup',
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
    assert.equal(calls.at(-1)?.name, 'DbBackup-school-restore');
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

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));
});
