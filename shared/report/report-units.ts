/** Bytes for people, in decimal units as S3's console shows them: `1.2 GB`, `340 kB`. */
export function bytesText(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  if (value < 1000) return `${sign}${Math.round(value)} B`;
  const units = ['kB', 'MB', 'GB', 'TB', 'PB'];
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${sign}${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

/** A duration for people: `850 ms`, `12.4 s`, `3m 05s`. */
export function durationText(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${Math.round(abs)} ms`;
  const seconds = abs / 1000;
  if (seconds < 60) return `${sign}${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  return `${sign}${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
}

/** A share as a percentage: `97%`, `4.5%`; `-` when unknown. */
export function percentText(share: number | null): string {
  if (share === null) return '-';
  const p = share * 100;
  return `${p.toFixed(p > 0 && p < 10 ? 1 : 0)}%`;
}

/** US dollars: `$0.0123` below a dollar, `$12.30` above. */
export function usdText(usd: number | null): string {
  if (usd === null) return '-';
  return `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
}

/** A per-week trend with its sign: `+1.2 MB/week`, `-3.0 s/week`; `-` when there is none. */
export function trendText(value: number | null, unit: (v: number) => string): string {
  if (value === null) return '-';
  return `${value >= 0 ? '+' : ''}${unit(value)}/week`;
}
