declare module 's3rver' {
  import type { IncomingMessage } from 'node:http';

  /** The part of a Koa context the harness's s3rver middleware reads and writes. */
  export interface S3rverContext {
    readonly method: string;
    readonly path: string;
    readonly query: Record<string, unknown>;
    readonly req: IncomingMessage;
    get(header: string): string;
    status: number;
    type: string;
    body: unknown;
  }

  export default class S3rver {
    constructor(options: Record<string, unknown>);
    /** s3rver is a Koa application: its middleware, run in order, the router last. */
    readonly middleware: Array<(ctx: S3rverContext, next: () => Promise<void>) => Promise<void>>;
    readonly store: { existsObject(bucket: string, key: string): Promise<boolean> };
    run(): Promise<unknown>;
    close(): Promise<void>;
  }
}
