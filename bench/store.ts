/**
 * @module
 * Store micro-benchmark (`npm run bench`, section "store"; or `node dist/bench/store.js` alone).
 * - the cost of one `recordEntity` call on the caller's thread (what a branch pays for being recorded);
 * - write-behind flush throughput (rows/s) and the event-loop time it takes per row;
 * - the baseline beside them, in the same run: one autocommit INSERT per row, what recording would cost
 *   if it sat on the hot path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Store } from '../src/store/index.js';

/** Percentile (0–1) by linear interpolation. */
function pct(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const r = (sorted.length - 1) * q;
  const lo = sorted[Math.floor(r)] as number;
  const hi = sorted[Math.ceil(r)] as number;
  return lo + (hi - lo) * (r - Math.floor(r));
}

function stats(samples: number[]): { n: number; p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return { n: s.length, p50: round(pct(s, 0.5)), p99: round(pct(s, 0.99)), mean: round(s.reduce((a, b) => a + b, 0) / (s.length || 1)) };
}

/** Result of `benchStore`; `rows` is the shape bench/run.ts prints. */
export interface StoreBenchResult {
  recordEntityUs: { n: number; p50: number; p99: number; mean: number };
  flush: { rows: number; batchRows: number; batchMs: { n: number; p50: number; p99: number; mean: number }; rowsPerSec: number; eventLoopUsPerRow: number };
  autocommitInsert: { n: number; ms: { n: number; p50: number; p99: number; mean: number }; rowsPerSec: number };
  rows: Record<string, unknown>[];
}

/**
 * Measure the store. Uses a fresh database in a temp dir, removed afterwards.
 * @param options.quick fewer samples (about 2 s instead of about 6 s)
 */
export async function benchStore(options: { quick?: boolean; log?: (line: string) => void } = {}): Promise<StoreBenchResult> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-bench-store-'));
  try {
    // 1. recordEntity on the caller's thread, with the default flusher running between rounds as in real use.
    const store = await Store.open(path.join(dir, 'record.duckdb'));
    const calls = quick ? 5_000 : 20_000;
    const callUs: number[] = [];
    log(`store: ${calls} recordEntity calls`);
    for (let i = 0; i < calls; ) {
      for (let j = 0; j < 50 && i < calls; j++, i++) {
        const t0 = process.hrtime.bigint();
        store.recordEntity({ entityId: `w${i}`, entityType: 'sandbox', trit: 0, memoryMib: 512, vcpuCount: 1, bootTimeMs: 2.5 });
        callUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      await tick(); // let timers and the flusher run, as between branches
    }
    await store.flush();
    await store.close();

    // 2. Flush throughput: queue rows (no timer, no threshold), then time flush() in default-sized batches.
    const batchRows = 500;
    const batches = quick ? 10 : 40;
    const flushStore = await Store.open(path.join(dir, 'flush.duckdb'), { flushIntervalMs: 3_600_000, flushThreshold: Number.MAX_SAFE_INTEGER });
    const batchMs: number[] = [];
    let loopMs = 0;
    let wallMs = 0;
    log(`store: flushing ${batches} batches of ${batchRows} rows`);
    for (let b = 0; b < batches; b++) {
      for (let i = 0; i < batchRows / 2; i++) {
        const id = `b${b}-${i}`;
        flushStore.recordEntity({ entityId: id, entityType: 'sandbox', trit: 0, bootTimeMs: 2.5 });
        flushStore.recordMetric({ entityId: id, branchTimeMs: 2.5 });
      }
      const elu0 = performance.eventLoopUtilization();
      const t0 = performance.now();
      await flushStore.flush();
      const ms = performance.now() - t0;
      loopMs += performance.eventLoopUtilization(elu0).active;
      wallMs += ms;
      batchMs.push(ms);
    }
    await flushStore.close();
    const flushed = batches * batchRows;

    // 3. Baseline: autocommit INSERT per row, awaited (what an unbatched recorder would put on the path).
    const baseStore = await Store.open(path.join(dir, 'baseline.duckdb'));
    const conn = await baseStore.connect();
    const stmt = await conn.prepare(
      'INSERT INTO world_runtime_entities (entity_id, entity_type, trit, memory_mib, vcpu_count, boot_time_ms) VALUES ($1, $2, $3, $4, $5, $6)',
    );
    const inserts = quick ? 100 : 400;
    const insertMs: number[] = [];
    log(`store: ${inserts} autocommit inserts (baseline)`);
    for (let i = 0; i < inserts; i++) {
      const t0 = performance.now();
      stmt.bind([`a${i}`, 'sandbox', 0, 512, 1, 2.5]);
      await stmt.run();
      insertMs.push(performance.now() - t0);
    }
    stmt.destroySync();
    await baseStore.close();

    const rec = stats(callUs);
    const fl = stats(batchMs);
    const ac = stats(insertMs);
    const rowsPerSec = Math.round(flushed / (wallMs / 1000));
    const acRowsPerSec = Math.round(inserts / (insertMs.reduce((a, b) => a + b, 0) / 1000));
    const eventLoopUsPerRow = Math.round(((loopMs * 1000) / flushed) * 100) / 100;
    return {
      recordEntityUs: rec,
      flush: { rows: flushed, batchRows, batchMs: fl, rowsPerSec, eventLoopUsPerRow },
      autocommitInsert: { n: inserts, ms: ac, rowsPerSec: acRowsPerSec },
      rows: [
        {
          group: 'store',
          label: 'store: recordEntity() on the caller',
          unit: 'µs',
          samples: callUs,
          targets: [{ on: 'p50', op: '<=', limit: 10, text: 'p50 ≤ 10 µs' }],
          note: 'synchronous: validate, copy, enqueue',
        },
        {
          group: 'store',
          label: `store: write-behind flush of ${batchRows} rows`,
          unit: 'ms',
          samples: batchMs,
          headline: { value: rowsPerSec, unit: 'rows/s', how: `${flushed} rows / total flush time` },
          note: `event loop busy ${eventLoopUsPerRow} µs per row; the rest runs on DuckDB's threads`,
        },
        {
          group: 'baseline',
          label: 'baseline: autocommit INSERT, one row',
          unit: 'ms',
          samples: insertMs,
          headline: { value: acRowsPerSec, unit: 'rows/s', how: `${inserts} awaited inserts` },
        },
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const r = await benchStore({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) });
  const { rows: _rows, ...figures } = r;
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`);
}
