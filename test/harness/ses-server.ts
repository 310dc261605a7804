import type { Server } from 'node:http';
import sesModule from 'aws-ses-v2-local';
import { freePort } from './postgres-cluster.js';

/** aws-ses-v2-local on 127.0.0.1: accepts SES v1/v2 SendEmail and keeps what was sent at GET /store. */
export interface SesServer {
  readonly endpoint: string;
  stop(): Promise<void>;
}

export async function startSesServer(): Promise<SesServer> {
  const port = await freePort();
  // A CommonJS module whose function is its `default` export.
  const start = (sesModule as unknown as { default: (c: { host: string; port: number }) => Promise<Server> }).default;
  const server: Server = await start({ host: '127.0.0.1', port });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One email as aws-ses-v2-local stores it. */
export interface StoredEmail {
  readonly from: string;
  readonly destination: { readonly to: string[] };
  readonly subject: string;
  readonly body: { readonly text?: string; readonly html?: string };
  readonly at: number;
}

/** The emails sent so far (read back from the server, as a user's mailbox would show them). */
export async function sentEmails(): Promise<StoredEmail[]> {
  const endpoint = process.env.AWS_ENDPOINT_URL_SESV2;
  if (!endpoint) throw new Error('AWS_ENDPOINT_URL_SESV2 is not set: run the tests with "npm test"');
  const response = await fetch(`${endpoint}/store`);
  return ((await response.json()) as { emails: StoredEmail[] }).emails;
}
