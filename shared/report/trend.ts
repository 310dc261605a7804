/** One measurement at a time: milliseconds since the epoch, and a value. */
export interface Point {
  readonly at: number;
  readonly value: number;
}

export const WEEK_MS = 7 * 24 * 3600 * 1000;

/**
 * The least-squares slope of `points`, per week: how much the value grows (or shrinks) in a week,
 * fitted over every point rather than the first and last alone, so one slow run does not make a
 * trend. Null with fewer than two points or when they all share one time.
 */
export function slopePerWeek(points: readonly Point[]): number | null {
  if (points.length < 2) return null;
  const meanAt = points.reduce((s, p) => s + p.at, 0) / points.length;
  const meanValue = points.reduce((s, p) => s + p.value, 0) / points.length;
  let covariance = 0;
  let variance = 0;
  for (const p of points) {
    covariance += (p.at - meanAt) * (p.value - meanValue);
    variance += (p.at - meanAt) ** 2;
  }
  if (variance === 0) return null;
  return (covariance / variance) * WEEK_MS;
}

/**
 * The value the fitted line gives at `at` (the same fit as {@link slopePerWeek}); null when no
 * line fits.
 */
export function projectAt(points: readonly Point[], at: number): number | null {
  const slope = slopePerWeek(points);
  if (slope === null) return null;
  const meanAt = points.reduce((s, p) => s + p.at, 0) / points.length;
  const meanValue = points.reduce((s, p) => s + p.value, 0) / points.length;
  return meanValue + (slope / WEEK_MS) * (at - meanAt);
}
