import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';
import { redactLocation } from '../redact.js';
import { FileTarget } from './file-target.js';
import type { S3TargetOptions } from './s3-target.js';
import type { Target } from './target.js';

/**
 * Picks the target for a URL (the AWS SDK is loaded only for S3): `s3://bucket/prefix` → S3; `file:///abs/dir` or a plain
 * directory path → a local directory. Anything else fails with the schemes that are supported.
 */
export async function openTarget(url: string, s3Options: S3TargetOptions = {}): Promise<Target> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 's3') {
    const { S3Target } = await import('./s3-target.js');
    return new S3Target(url, s3Options);
  }
  if (scheme === 'file') {
    try {
      return new FileTarget(fileURLToPath(url));
    } catch (cause) {
      throw new ConfigError(`invalid file URL "${redactLocation(url)}"`, {
        hint: 'use file:///absolute/dir or a plain path',
        cause,
      });
    }
  }
  if (scheme !== undefined) {
    throw new ConfigError(`unsupported target URL scheme "${scheme}" in "${redactLocation(url)}"`, {
      hint: 'use s3://bucket/prefix, file:///absolute/dir or a directory path',
    });
  }
  if (!url.trim()) {
    throw new ConfigError((w) => `${w.option('target')} is empty`, { hint: 'use s3://bucket/prefix or a directory path' });
  }
  return new FileTarget(url);
}
