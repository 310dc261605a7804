import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * Passes bytes through unchanged, counting them and optionally hashing them (SHA-256).
 * Placed after compression it measures exactly the bytes that are stored.
 */
export class Meter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private digestHex: string | undefined;

  constructor(options: { sha256?: boolean } = {}) {
    super();
    this.hash = options.sha256 ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    callback(null, chunk);
  }

  /** The SHA-256 (hex) of every byte that passed; only valid once the stream has ended. */
  sha256(): string {
    if (!this.hash) throw new Error('Meter was created without sha256');
    this.digestHex ??= this.hash.digest('hex');
    return this.digestHex;
  }
}
