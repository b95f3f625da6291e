/**
 * @module
 * Percentiles, summaries and the row format every bench module returns (`npm run bench`).
 * A row is one measured figure: its samples' n, p50 and p99, an optional headline (a rate, a ratio, a
 * per-branch memory figure) and the targets it is held to.
 */

/** The p-th percentile (0–100) of `samples`, linearly interpolated between closest ranks. NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (Math.min(Math.max(p, 0), 100) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (rank - lo);
}

export interface Summary {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const n = samples.length;
  const sum = samples.reduce((s, x) => s + x, 0);
  return {
    n,
    p50: percentile(samples, 50),
    p99: percentile(samples, 99),
    mean: n ? sum / n : Number.NaN,
    min: n ? Math.min(...samples) : Number.NaN,
    max: n ? Math.max(...samples) : Number.NaN,
  };
}

/** A figure a row is held to: `on` names the field compared (the row's p50, or its headline value). */
export interface Target {
  on: 'p50' | 'value';
  op: '<=' | '>=';
  limit: number;
  /** Short text shown in the table, e.g. "p50 ≤ 5 ms". */
  text: string;
  met?: boolean;
}

/** The headline of a row that is not a plain latency: a rate, a ratio, memory per branch. */
export interface Headline {
  value: number;
  unit: string;
  /** How it was computed, e.g. "sum of PSS / 100". */
  how?: string;
}

export interface Row {
  /** Section the row belongs to ("baseline", "create", "branch", ...). */
  group: string;
  label: string;
  /** Unit of the samples (and of p50/p99). */
  unit: string;
  n: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
  headline?: Headline;
  targets: Target[];
  note?: string;
  /** The machine's 1-minute load average when the row was finished (this machine is shared). */
  load1?: number;
  /** Raw samples, kept in the JSON only. */
  samples: number[];
}

export interface RowInput {
  group: string;
  label: string;
  unit?: string;
  samples: number[];
  headline?: Headline;
  targets?: Target[];
  note?: string;
}

/** Build a row from raw samples, judging its targets. */
export function row(input: RowInput): Row {
  const s = summarize(input.samples);
  const r: Row = {
    group: input.group,
    label: input.label,
    unit: input.unit ?? 'ms',
    ...s,
    headline: input.headline,
    targets: [],
    note: input.note,
    samples: input.samples.map((x) => Math.round(x * 1000) / 1000),
  };
  r.targets = (input.targets ?? []).map((t) => ({ ...t, met: judge(r, t) }));
  return r;
}

function judge(r: Row, t: Target): boolean | undefined {
  const v = t.on === 'p50' ? r.p50 : r.headline?.value;
  if (v === undefined || Number.isNaN(v)) return undefined;
  return t.op === '<=' ? v <= t.limit : v >= t.limit;
}

/** A target on the row's p50 latency in ms. */
export function p50AtMost(ms: number, text = `p50 ≤ ${ms} ms`): Target {
  return { on: 'p50', op: '<=', limit: ms, text };
}

/** The original description's (and Morph Infinibranch's) target: under 250 ms (docs/origin.md). */
export const SEED_250: Target = p50AtMost(250, 'original ≤ 250 ms');

export function headlineAtLeast(limit: number, text: string): Target {
  return { on: 'value', op: '>=', limit, text };
}

export function headlineAtMost(limit: number, text: string): Target {
  return { on: 'value', op: '<=', limit, text };
}

/** A row for something that could not be measured, with the reason. */
export function skipped(group: string, label: string, reason: string): Row {
  return { ...row({ group, label, samples: [] }), note: `skipped: ${reason}` };
}

/** Fixed-precision number for tables: 3 significant figures, no exponent for the sizes seen here. */
export function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** Wall-clock timer in ms, from performance.now(). */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
