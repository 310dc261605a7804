/** One row of the benchmark's table: a measured path, held to its target against its own baseline. */
export interface BenchRow {
  /** The data set: `mixed` (JSON, words and hex ids) or `text` (natural-language text, JSON, numbers); `sqlite`. */
  readonly dataSet: string;
  /** What ran: `dbbackup backup gzip → directory`, `floor: pg_dump -Fc -Z0 > /dev/null`, … */
  readonly path: string;
  /** Median wall time, when the row is timed. */
  readonly seconds?: number;
  /** The baseline the ratio is taken against, measured in the same run on the same data. */
  readonly baseline?: string;
  /** This row ÷ its baseline: time, or stored size for a size row, or peak RSS for a growth row. */
  readonly ratio?: number;
  /** The largest ratio that passes, when the row has a target. */
  readonly targetRatio?: number;
  /** The largest peak RSS that passes, when it was measured. */
  readonly rssLimitMb?: number;
  readonly storedBytes?: number;
  /** Peak RSS of the dbbackup process (VmHWM), the largest of its runs; its child programs are not counted. */
  readonly peakRssMb?: number;
  /** Free words: `database 250 MB → 1 GB` for a growth row. */
  readonly note?: string;
}

/** The whole run, as written to JSON and read back by `bench-readme`. */
export interface BenchResults {
  readonly date: string;
  readonly machine: string;
  readonly options: Record<string, unknown>;
  readonly rows: readonly BenchRow[];
}

/** pass, FAIL, or '' for a row without a target (a baseline). */
export function verdict(row: BenchRow): 'pass' | 'FAIL' | '' {
  const checks: boolean[] = [];
  if (row.targetRatio !== undefined && row.ratio !== undefined) checks.push(row.ratio <= row.targetRatio);
  if (row.rssLimitMb !== undefined && row.peakRssMb !== undefined) checks.push(row.peakRssMb < row.rssLimitMb);
  if (checks.length === 0) return '';
  return checks.every(Boolean) ? 'pass' : 'FAIL';
}

const HEADER = ['data set', 'path', 'time s', 'ratio', 'to', 'target', 'result', 'stored MB', 'peak RSS MB'];

function cells(row: BenchRow): string[] {
  const target = [
    row.targetRatio !== undefined ? `≤ ${row.targetRatio}×` : '',
    row.rssLimitMb !== undefined ? `RSS < ${row.rssLimitMb}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return [
    row.dataSet,
    row.note ? `${row.path} (${row.note})` : row.path,
    row.seconds !== undefined ? row.seconds.toFixed(2) : '-',
    row.ratio !== undefined ? row.ratio.toFixed(2) : '-',
    row.baseline ?? '-',
    target || '-',
    verdict(row) || '-',
    row.storedBytes !== undefined ? (row.storedBytes / 1e6).toFixed(1) : '-',
    row.peakRssMb !== undefined ? row.peakRssMb.toFixed(0) : '-',
  ];
}

/** The table as aligned plain text, as the bench prints it. */
export function formatText(rows: readonly BenchRow[]): string {
  const lines = rows.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const numeric = new Set([2, 3, 7, 8]);
  const fmt = (line: string[]) =>
    line
      .map((c, i) => (numeric.has(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(HEADER), ...lines.map(fmt)].join('\n');
}

/** The table as Markdown, for the README. */
export function formatMarkdown(rows: readonly BenchRow[]): string {
  const escape = (c: string) => c.replace(/\|/g, '\\|');
  return [
    `| ${HEADER.join(' | ')} |`,
    `| ${HEADER.map((_, i) => ([2, 3, 7, 8].includes(i) ? '---:' : '---')).join(' | ')} |`,
    ...rows.map((row) => `| ${cells(row).map(escape).join(' | ')} |`),
  ].join('\n');
}
