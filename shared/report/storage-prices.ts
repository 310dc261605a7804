import type { StorageClass } from '../targets/target.js';

/**
 * What S3 charges to keep a backup, per storage class: the list price per GB-month (GB = 2^30
 * bytes, as AWS bills) of the first 50 TB in us-east-1 (N. Virginia), taken from
 * https://aws.amazon.com/s3/pricing/ as of `asOf`. Prices vary by region and change over time,
 * and a bill also has requests, retrievals, minimum storage durations (30 days for the IA
 * classes, 90 for Glacier Instant and Flexible Retrieval, 180 for Deep Archive) and Intelligent-
 * Tiering's monitoring fee, none of which is here: a report's cost is a projection of storage
 * alone, to compare classes and follow growth, not a bill.
 */
export const STORAGE_PRICES = {
  region: 'us-east-1',
  asOf: '2025-01',
  currency: 'USD',
  perGbMonth: {
    STANDARD: 0.023,
    STANDARD_IA: 0.0125,
    ONEZONE_IA: 0.01,
    // Its frequent-access tier: the price of a backup that has not yet moved down.
    INTELLIGENT_TIERING: 0.023,
    GLACIER_IR: 0.004,
    GLACIER: 0.0036,
    DEEP_ARCHIVE: 0.00099,
  } satisfies Record<StorageClass, number>,
} as const;

const GIB = 1024 ** 3;

/** The monthly storage price of `bytes` kept in `storageClass`, in US dollars. */
export function monthlyStorageCost(bytes: number, storageClass: StorageClass): number {
  return (bytes / GIB) * STORAGE_PRICES.perGbMonth[storageClass];
}
