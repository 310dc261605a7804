import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { text } from 'node:stream/consumers';

/**
 * A stand-in for the Lambda Runtime API (version 2018-06-01), which only the Lambda service provides:
 * the four endpoints a runtime interface client calls, `GET runtime/invocation/next`,
 * `POST runtime/invocation/{id}/response`, `POST runtime/invocation/{id}/error` and
 * `POST runtime/init/error`. The image's own entry point and aws-lambda-ric talk to it exactly as
 * they would to Lambda; `invoke` queues one event and resolves with what the function answered.
 */
export interface RuntimeApiStandIn {
  /** `host:port`, the value of AWS_LAMBDA_RUNTIME_API. */
  readonly address: string;
  /**
   * Hands `event` to the next `next` request and waits for the answer: the handler's result, its
   * error, or an init error (the cold start failed). Rejects after `limitMs`.
   */
  invoke(event: unknown, limitMs: number, functionTimeoutMs?: number): Promise<RuntimeAnswer>;
  /** Every path the function requested, in order (the protocol as it was spoken). */
  readonly requests: readonly string[];
  stop(): Promise<void>;
}

export interface RuntimeAnswer {
  readonly kind: 'response' | 'error' | 'init-error';
  readonly requestId: string;
  /** The posted body, parsed as JSON. */
  readonly body: Record<string, unknown>;
}

const BASE = '/2018-06-01/runtime';

export async function startRuntimeApiStandIn(): Promise<RuntimeApiStandIn> {
  const requests: string[] = [];
  const queued: Array<{ requestId: string; event: unknown; deadline: number }> = [];
  const waitingNext: ServerResponse[] = [];
  const pending = new Map<string, (answer: RuntimeAnswer) => void>();
  let initError: ((answer: RuntimeAnswer) => void) | undefined;

  const deliver = () => {
    while (queued.length > 0 && waitingNext.length > 0) {
      const invocation = queued.shift()!;
      const response = waitingNext.shift()!;
      response.writeHead(200, {
        'content-type': 'application/json',
        'lambda-runtime-aws-request-id': invocation.requestId,
        'lambda-runtime-deadline-ms': String(invocation.deadline),
        'lambda-runtime-invoked-function-arn': 'arn:aws:lambda:us-east-1:123456789012:function:dbbackup-image-test',
        'lambda-runtime-trace-id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Sampled=0`,
      });
      response.end(JSON.stringify(invocation.event));
    }
  };

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? '').split('?')[0] ?? '';
    requests.push(`${request.method} ${path}`);
    const answered = (kind: RuntimeAnswer['kind'], requestId: string, resolve?: (a: RuntimeAnswer) => void) => {
      void text(request).then((body) => {
        response.writeHead(202, { 'content-type': 'application/json' });
        response.end('{"status":"OK"}');
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(body || 'null') as Record<string, unknown>;
        } catch {
          parsed = { unparsed: body };
        }
        resolve?.({ kind, requestId, body: parsed });
      });
    };
    if (request.method === 'GET' && path === `${BASE}/invocation/next`) {
      // Long poll: held until an event is queued, as Lambda holds it while the environment is idle.
      waitingNext.push(response);
      request.on('close', () => {
        const at = waitingNext.indexOf(response);
        if (at >= 0 && !response.headersSent) waitingNext.splice(at, 1);
      });
      deliver();
      return;
    }
    const invocation = new RegExp(`^${BASE}/invocation/([^/]+)/(response|error)$`).exec(path);
    if (request.method === 'POST' && invocation) {
      const [, requestId = '', what] = invocation;
      const resolve = pending.get(requestId);
      if (!resolve) {
        response.writeHead(400, { 'content-type': 'application/json' });
        response.end('{"errorType":"InvalidRequestID","errorMessage":"no such invocation"}');
        return;
      }
      pending.delete(requestId);
      answered(what === 'response' ? 'response' : 'error', requestId, resolve);
      return;
    }
    if (request.method === 'POST' && path === `${BASE}/init/error`) {
      answered('init-error', '', initError);
      return;
    }
    response.writeHead(404, { 'content-type': 'application/json' });
    response.end('{"errorType":"NotFound"}');
  });
  // The `next` long poll may be held for minutes between invocations.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 3_600_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    address: `127.0.0.1:${port}`,
    requests,
    invoke(event, limitMs, functionTimeoutMs = 900_000) {
      const requestId = randomUUID();
      return new Promise<RuntimeAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(requestId);
          reject(new Error(`the function did not answer invocation ${requestId} within ${limitMs} ms`));
        }, limitMs);
        const settle = (answer: RuntimeAnswer) => {
          clearTimeout(timer);
          initError = undefined;
          resolve(answer);
        };
        pending.set(requestId, settle);
        initError = settle;
        queued.push({ requestId, event, deadline: Date.now() + functionTimeoutMs });
        deliver();
      });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const response of waitingNext.splice(0)) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
