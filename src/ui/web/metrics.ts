/**
 * @module
 * The metrics view: p50 and p99 per operation beside the 250 ms target (the record's `metricSummary`), a
 * small chart per operation of p50 and p99 over time (a rolling window over the recorded samples), and the
 * machine's capacity: live worlds against the daemon's limit, memory, disk.
 */
import { v1, view } from './api.js';
import { bytes, clear, h, ms, put, s } from './dom.js';
import type { Capacity } from './model.js';

interface Summary {
  operation: string;
  unit: string;
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
  targetMs: number | null;
  withinTarget: boolean | null;
}

interface MetricRow {
  bootTimeMs: number | null;
  snapshotTimeMs: number | null;
  branchTimeMs: number | null;
  measuredAt: string | null;
}

interface Resolution {
  pullUpTimeMs: number | null;
  resolvedAt: string | null;
}

const TARGET_MS = 250;
const WINDOW = 20;

function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const a = sorted[lo] ?? 0;
  const b = sorted[Math.ceil(pos)] ?? a;
  return a + (b - a) * (pos - lo);
}

/** Rolling p50/p99 over the last `WINDOW` samples, oldest first. */
function rolling(samples: { t: number; v: number }[]): { t: number; p50: number; p99: number }[] {
  return samples.map((x, i) => {
    const win = samples
      .slice(Math.max(0, i - WINDOW + 1), i + 1)
      .map((y) => y.v)
      .sort((a, b) => a - b);
    return { t: x.t, p50: quantile(win, 0.5), p99: quantile(win, 0.99) };
  });
}

function chart(title: string, samples: { t: number; v: number }[]): Node {
  const W = 320;
  const H = 120;
  const pad = { l: 38, r: 8, t: 8, b: 18 };
  const series = rolling(samples);
  const top = Math.max(TARGET_MS * 1.2, ...series.map((p) => p.p99));
  const t0 = series[0]?.t ?? 0;
  const t1 = Math.max(t0 + 1, series[series.length - 1]?.t ?? 1);
  const x = (t: number) => pad.l + ((t - t0) / (t1 - t0)) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / top) * (H - pad.t - pad.b);
  const line = (k: 'p50' | 'p99') => series.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p[k]).toFixed(1)}`).join(' ');
  const last = series[series.length - 1];
  const label = `${title}: ${samples.length} samples${last ? `, latest rolling p50 ${ms(last.p50)}, p99 ${ms(last.p99)}` : ''}, target ${TARGET_MS} ms`;
  return s(
    'svg',
    { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label },
    s('line', { class: 'axis', x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b }),
    s('line', { class: 'axis', x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b }),
    s('line', { class: 'target', x1: pad.l, y1: y(TARGET_MS), x2: W - pad.r, y2: y(TARGET_MS) }),
    s('text', { x: pad.l - 4, y: y(TARGET_MS) + 3, 'text-anchor': 'end' }, '250'),
    s('text', { x: pad.l - 4, y: pad.t + 8, 'text-anchor': 'end' }, String(Math.round(top))),
    s('text', { x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end' }, '0'),
    series.length > 1 ? s('path', { class: 'p50', d: line('p50') }) : null,
    series.length > 1 ? s('path', { class: 'p99', d: line('p99') }) : null,
    series.length === 1 && last ? s('circle', { cx: x(last.t), cy: y(last.p50), r: 3, class: 'p50' }) : null,
    s('text', { x: W - pad.r, y: H - 4, 'text-anchor': 'end' }, samples.length ? new Date(t1).toLocaleTimeString() : 'no samples'),
  );
}

function meter(label: string, used: number, total: number, text: string): Node {
  const pct = total > 0 ? Math.min(100, (used / total) * 100) : 0;
  const bar = h('div', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': total, 'aria-valuenow': used, 'aria-valuetext': text });
  const fill = h('span');
  fill.style.width = `${pct.toFixed(1)}%`;
  bar.append(fill);
  return h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, bar), h('td', {}, text));
}

export async function metricsPage(el: HTMLElement): Promise<void> {
  const [m, res, cap] = await Promise.all([
    v1<{ summary: Summary[]; rows: MetricRow[] }>('GET', '/metrics?limit=5000'),
    v1<{ resolutions: Resolution[] }>('GET', '/resolutions?limit=2000'),
    view<Capacity>('capacity'),
  ]);
  const series = (pick: (r: MetricRow) => number | null) =>
    m.rows
      .filter((r) => pick(r) !== null && r.measuredAt)
      .map((r) => ({ t: Date.parse(r.measuredAt as string), v: pick(r) as number }))
      .reverse();
  const charts: [string, { t: number; v: number }[]][] = [
    ['create', series((r) => r.bootTimeMs)],
    ['snapshot', series((r) => r.snapshotTimeMs)],
    ['branch', series((r) => r.branchTimeMs)],
    [
      'pull_up',
      res.resolutions
        .filter((r) => r.pullUpTimeMs !== null && r.resolvedAt)
        .map((r) => ({ t: Date.parse(r.resolvedAt as string), v: r.pullUpTimeMs as number }))
        .reverse(),
    ],
  ];
  clear(el);
  put(
    el,
    h('h1', {}, 'Metrics'),
    h(
      'table',
      { class: 'summary' },
      h(
        'thead',
        {},
        h('tr', {}, ...['Operation', 'Count', 'p50', 'p99', 'Max', 'Target', 'Status'].map((t, i) => h('th', { class: i > 0 && i < 5 ? 'num' : '' }, t))),
      ),
      h(
        'tbody',
        {},
        ...m.summary.map((x) =>
          h(
            'tr',
            {},
            h('td', {}, x.operation),
            h('td', { class: 'num' }, String(x.count)),
            h('td', { class: 'num' }, x.unit === 'ms' ? ms(x.p50) : String(x.p50 ?? '–')),
            h('td', { class: 'num' }, x.unit === 'ms' ? ms(x.p99) : String(x.p99 ?? '–')),
            h('td', { class: 'num' }, x.unit === 'ms' ? ms(x.max) : String(x.max ?? '–')),
            h('td', {}, x.targetMs === null ? '–' : `${x.operation === 'create' ? '~' : '<'}${x.targetMs} ms`),
            h('td', { class: x.withinTarget === false ? 'error' : x.withinTarget ? 'ok' : '' }, x.withinTarget === null ? '–' : x.withinTarget ? 'OK' : 'over'),
          ),
        ),
      ),
    ),
    h('p', { class: 'muted' }, `Charts: rolling p50 (blue) and p99 (red) over the last ${WINDOW} samples; dashed: the ${TARGET_MS} ms target.`),
    h('div', { class: 'grid' }, ...charts.map(([name, samples]) => h('div', { class: 'card' }, h('h3', {}, name), chart(name, samples)))),
    h('h2', {}, 'Capacity'),
    h(
      'table',
      { class: 'capacity' },
      h(
        'tbody',
        {},
        meter('live worlds', cap.liveWorlds, cap.maxWorlds, `${cap.liveWorlds} of ${cap.maxWorlds} (${cap.snapshots} snapshot${cap.snapshots === 1 ? '' : 's'})`),
        meter(
          'memory',
          cap.memory.totalBytes - cap.memory.availableBytes,
          cap.memory.totalBytes,
          `${bytes(cap.memory.totalBytes - cap.memory.availableBytes)} used of ${bytes(cap.memory.totalBytes)}`,
        ),
        cap.disk
          ? meter('disk', cap.disk.totalBytes - cap.disk.freeBytes, cap.disk.totalBytes, `${bytes(cap.disk.freeBytes)} free of ${bytes(cap.disk.totalBytes)} (${cap.disk.path})`)
          : null,
      ),
    ),
  );
}
