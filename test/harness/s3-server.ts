import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import S3rver, { type S3rverContext } from 's3rver';

/** An S3-compatible server (s3rver) on 127.0.0.1, storing in a temp dir. */
export interface S3Server {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** s3rver accepts only these credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** How the S3 server behaves. */
export interface S3ServerOptions {
  /**
   * Refuse `If-None-Match: *` writes to existing keys, as AWS S3 does. `false` makes a stand-in
   * for the S3-compatible servers that ignore the header and overwrite. @default true
   */
  readonly honourIfNoneMatch?: boolean;
}

export async function startS3Server(options: S3ServerOptions = {}): Promise<S3Server> {
  const directory = await fs.mkdtemp(join(tmpdir(), 'dbbackup-test-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  // Just before s3rver's router, the last of its middleware.
  if (options.honourIfNoneMatch ?? true) {
    server.middleware.splice(server.middleware.length - 1, 0, refuseOverwriteIfNoneMatch(server));
  }
  const address = (await server.run()) as { address: string; port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    stop: async () => {
      await server.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * Conditional writes as S3 answers them: a PutObject or CompleteMultipartUpload with
 * `If-None-Match: *` on an existing key fails with 412 PreconditionFailed and stores nothing.
 * AWS S3 (since August 2024), MinIO and LocalStack do this; s3rver 3.7 ignores the header, and
 * the S3 target relies on it to never overwrite a backup.
 */
function refuseOverwriteIfNoneMatch(server: S3rver) {
  return async (ctx: S3rverContext, next: () => Promise<void>): Promise<void> => {
    const query = ctx.query;
    const isWrite =
      (ctx.method === 'PUT' && !['uploadId', 'partNumber', 'tagging', 'acl'].some((q) => q in query)) ||
      (ctx.method === 'POST' && 'uploadId' in query);
    const [, bucket, ...key] = ctx.path.split('/').map(decodeURIComponent);
    if (!isWrite || ctx.get('if-none-match') !== '*' || !bucket || key.length === 0) return next();
    if (!(await server.store.existsObject(bucket, key.join('/')))) return next();
    // Read the request to its end, as S3 does, so the connection stays usable.
    await finished(ctx.req.resume());
    ctx.status = 412;
    ctx.type = 'application/xml';
    ctx.body =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>' +
      '<Message>At least one of the pre-conditions you specified did not hold</Message>' +
      '<Condition>If-None-Match</Condition></Error>';
  };
}
