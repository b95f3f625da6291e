/**
 * @module
 * Plain-text output: aligned tables, key/value blocks, durations. No colours, so output pastes cleanly.
 */

/** An aligned table with a header row; `null`/`undefined` cells print as `-`. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = rows.map((r) => r.map(cell));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  if (rows.length === 0) return `${line(headers)}\n(none)`;
  return [line(headers), ...cells.map(line)].join('\n');
}

/** `key  value` lines, keys aligned. */
export function keyValues(pairs: [string, unknown][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n');
}

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
  return JSON.stringify(v);
}

/** `12.3 ms`, `1.25 s`, or `-`. */
export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
}

/** A trit as -1, 0, +1 (or -). */
/** Bytes as B, KiB, MiB or GiB; '-' when unknown. */
export function bytes(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let n = v;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function trit(v: number | null | undefined): string {
  return v === null || v === undefined ? '-' : v > 0 ? `+${v}` : String(v);
}

/** `2026-01-02 03:04:05` from an ISO string. */
export function time(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, '') : '-';
}
