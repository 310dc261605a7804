import { printable } from './printable.js';

/**
 * Renders rows as the lines of a left-aligned text table with a header line. Cells are made
 * printable first, so a cell holding a newline or an escape sequence stays in its row and the
 * columns line up on what is shown.
 */
export function renderTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const shown = rows.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...shown.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), ...shown.map(line)];
}
