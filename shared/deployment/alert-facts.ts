import type { S3Client } from '@aws-sdk/client-s3';
import { listBackups } from '../catalog/list-backups.js';
import { formatErrorLine } from '../errors.js';
import type { LastGoodBackup } from '../notify/alert.js';
import { listRunRecords, runRecordPrefix } from '../runs/run-record.js';
import type { Settings } from '../settings.js';
import { S3Target } from '../targets/s3-target.js';
import { deploymentWording } from './deployment-wording.js';

/**
 * How long an alert waits for what it reads from the bucket (the last good backup, the runs
 * before this one): a slow listing must not hold back the email about a failure.
 */
export const ALERT_READ_TIMEOUT_MS = 5_000;

/** The bucket as the alert reads it. */
export interface AlertBucket {
  readonly bucket: string;
  readonly s3Client: S3Client;
  readonly settings: Settings;
}

/** Resolves `work`, or rejects saying it took too long. */
async function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The newest completed backup of `database` in `tier` (a scheduled backup's label), read from
 * the bucket now; `unreadable` when the listing failed or took longer than `timeoutMs`.
 */
export async function lastGoodBackup(
  where: AlertBucket,
  database: string,
  tier: string,
  timeoutMs = ALERT_READ_TIMEOUT_MS,
): Promise<LastGoodBackup> {
  try {
    const target = new S3Target(`s3://${where.bucket}`, { client: where.s3Client, settings: where.settings });
    const { backups } = await within(listBackups(target, { database, now: new Date() }), timeoutMs);
    const newest = backups.find((b) => b.manifest.label === tier);
    return newest ? { kind: 'found', manifest: newest.manifest } : { kind: 'none' };
  } catch (error) {
    return { kind: 'unreadable', reason: formatErrorLine(error, deploymentWording) };
  }
}

/**
 * The failed runs of `database` in `tier` since its last success before the run that wrote
 * `backupKey` (which is left out), from the run records; undefined when none failed or the
 * records could not be read in time (a recovered email is then not sent: better than a wrong one).
 */
export async function failedRunsBefore(
  where: AlertBucket,
  run: { engine: string; database: string; tier: string; backupKey: string },
  timeoutMs = ALERT_READ_TIMEOUT_MS,
): Promise<{ count: number; since: Date } | undefined> {
  try {
    const target = new S3Target(`s3://${where.bucket}`, { client: where.s3Client, settings: where.settings });
    const { records } = await within(
      listRunRecords(target, {
        prefix: runRecordPrefix(run.engine, run.database),
        // Further back than any schedule's interval: a monthly tier's previous run included.
        since: new Date(Date.now() - 100 * 86_400_000),
      }),
      timeoutMs,
    );
    const earlier = records.filter(
      (r) => r.tier === run.tier && r.kind === 'scheduled' && !(r.backup_key && run.backupKey.endsWith(r.backup_key)),
    );
    let count = 0;
    let since: string | undefined;
    for (let i = earlier.length - 1; i >= 0 && earlier[i]?.result === 'failed'; i--) {
      count++;
      since = earlier[i]?.started_at;
    }
    return count > 0 && since ? { count, since: new Date(since) } : undefined;
  } catch {
    return undefined;
  }
}

/** The commands an on-call engineer runs next about a failed backup of `database`. */
export function nextSteps(where: { bucket: string; stack?: string; region?: string }, database: string, tier: string): string[] {
  const stack = where.stack ? ` --stack ${where.stack}` : '';
  const region = where.region ? `AWS_REGION=${where.region} ` : '';
  return [
    `see what is stored: ${region}dbbackup list --target s3://${where.bucket} --database ${database}`,
    `once the cause is fixed, back up again: ${region}dbbackup invoke backup --database ${database} --tier ${tier}${stack}`,
  ];
}
