import { createServer, type Server } from 'node:http';
import { text } from 'node:stream/consumers';
import { freePort } from './postgres-cluster.js';

/**
 * A stand-in for AWS Secrets Manager's GetSecretValue, reached by the real SDK client over HTTP
 * (AWS_ENDPOINT_URL_SECRETS_MANAGER). There is no local Secrets Manager among our test parts;
 * this answers exactly the one call dbbackup makes, with secrets a test registers.
 */
export interface SecretsServer {
  readonly endpoint: string;
  /** How many GetSecretValue requests it has answered (or refused). */
  readonly requests: number;
  stop(): Promise<void>;
}

export async function startSecretsServer(secrets: () => Record<string, string>): Promise<SecretsServer> {
  const port = await freePort();
  let requests = 0;
  const server: Server = createServer(async (request, response) => {
    requests++;
    const body = await text(request);
    const target = String(request.headers['x-amz-target'] ?? '');
    const { SecretId } = JSON.parse(body || '{}') as { SecretId?: string };
    const value = SecretId ? secrets()[SecretId] : undefined;
    response.setHeader('content-type', 'application/x-amz-json-1.1');
    if (target !== 'secretsmanager.GetSecretValue' || value === undefined) {
      response.statusCode = 400;
      response.end(
        JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." }),
      );
      return;
    }
    response.end(JSON.stringify({ ARN: SecretId, Name: SecretId, SecretString: value, VersionId: 'v1', CreatedDate: 0 }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
