/**
 * @module
 * Ledger throughput: acknowledged, durable operations per second from 8 concurrent clients and from 1
 * client, in the same run, beside a baseline of one autocommit DuckDB insert per operation (what the
 * ledger would cost without group commit). Target: ≥ 2,000 ops/s with 8 clients.
 *
 * Run alone: `node dist/bench/ledger.js [seconds-per-phase]`.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Ledger } from '../src/ledger/index.js';

/** One measured phase. */
export interface LedgerPhase {
  clients: number;
  ops: number;
  seconds: number;
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Average operations per committed transaction. */
  opsPerCommit: number;
}

/** What {@link benchLedger} returns. */
export interface LedgerBench {
  clients8: LedgerPhase;
  clients1: LedgerPhase;
  /** One autocommit INSERT per op into a DuckDB file on the same disk (no grouping). */
  baselineAutocommit: { p50Ms: number; p99Ms: number; opsPerSec: number };
  targetOpsPerSec: number;
  meetsTarget: boolean;
}

const OWNERS = 8;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

// Each client cycles through every balance-moving operation; amounts are tiny against the funding, so
// every op is accepted and the measurement is of the commit path, not of rejections.
async function client(L: Ledger, i: number, until: number, lat: number[]): Promise<number> {
  const me = `owner${i}`;
  const next = `owner${(i + 1) % OWNERS}`;
  const ops: (() => Promise<unknown>)[] = [
    () => L.deposit(me, 'usd', 5n),
    () => L.transfer(L.root, 'usd', me, next, 1n),
    () => L.pushDown('bench', me, 'usd', 2n),
    () => L.transfer('bench/optimal', 'usd', me, next, 1n),
    () => L.pullUp('bench', me, 'usd', 1n),
    () => L.withdraw(me, 'usd', 1n),
  ];
  let n = 0;
  while (performance.now() < until) {
    const t0 = performance.now();
    await (ops[n % ops.length] as () => Promise<unknown>)();
    lat.push(performance.now() - t0);
    n++;
  }
  return n;
}

async function phase(L: Ledger, clients: number, seconds: number): Promise<LedgerPhase> {
  const lat: number[] = [];
  const before = L.commitStats;
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  const counts = await Promise.all(Array.from({ length: clients }, (_, i) => client(L, i, until, lat)));
  const elapsed = (performance.now() - t0) / 1000;
  const after = L.commitStats;
  const ops = counts.reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  return {
    clients,
    ops,
    seconds: elapsed,
    opsPerSec: ops / elapsed,
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    opsPerCommit: (after.ops - before.ops) / Math.max(1, after.batches - before.batches),
  };
}

async function baseline(dir: string, seconds: number): Promise<LedgerBench['baselineAutocommit']> {
  const inst = await DuckDBInstance.create(join(dir, 'baseline.duckdb'));
  const c = await inst.connect();
  await c.run('CREATE TABLE t (seq BIGINT PRIMARY KEY, op VARCHAR, args VARCHAR, ts TIMESTAMP)');
  const lat: number[] = [];
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  for (let i = 1; performance.now() < until; i++) {
    const a = performance.now();
    await c.run(`INSERT INTO t VALUES (${i}, 'deposit', '{"owner":"owner0","asset":"usd","amount":"5"}', now()::TIMESTAMP)`);
    lat.push(performance.now() - a);
  }
  const elapsed = (performance.now() - t0) / 1000;
  c.closeSync();
  inst.closeSync();
  lat.sort((a, b) => a - b);
  return { p50Ms: quantile(lat, 0.5), p99Ms: quantile(lat, 0.99), opsPerSec: lat.length / elapsed };
}

/**
 * Measure the ledger on a fresh DuckDB file in a temporary directory (removed afterwards).
 * @param seconds duration of each phase (8 clients, 1 client, baseline)
 */
export async function benchLedger(seconds = 3): Promise<LedgerBench> {
  const dir = mkdtempSync(join(tmpdir(), 'ledger-bench-'));
  try {
    const L = await Ledger.open(join(dir, 'ledger.duckdb'));
    for (let i = 0; i < OWNERS; i++) await L.deposit(`owner${i}`, 'usd', 10n ** 15n);
    await L.partition(L.root, {
      event: 'bench',
      children: [
        { name: 'nash', probability: '0.45', trit: -1 },
        { name: 'optimal', probability: '0.35', trit: 0 },
        { name: 'chaos', probability: '0.20', trit: 1 },
      ],
    });
    for (let i = 0; i < OWNERS; i++) await L.pushDown('bench', `owner${i}`, 'usd', 10n ** 12n);
    await phase(L, 8, Math.min(0.5, seconds)); // warm-up: JIT, DuckDB caches, WAL file growth
    const clients8 = await phase(L, 8, seconds);
    const clients1 = await phase(L, 1, seconds);
    const report = await L.check();
    if (!report.ok) throw new Error(`ledger check failed after the bench: ${report.problems.join('; ')}`);
    await L.close();
    const baselineAutocommit = await baseline(dir, Math.min(seconds, 2));
    const targetOpsPerSec = 2000;
    return { clients8, clients1, baselineAutocommit, targetOpsPerSec, meetsTarget: clients8.opsPerSec >= targetOpsPerSec };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Render the result as a text table. */
export function formatLedgerBench(r: LedgerBench): string {
  const f = (n: number, d = 2): string => n.toFixed(d);
  const rows = [
    ['ledger, 8 clients', f(r.clients8.opsPerSec, 0), f(r.clients8.p50Ms), f(r.clients8.p99Ms), f(r.clients8.opsPerCommit, 1)],
    ['ledger, 1 client', f(r.clients1.opsPerSec, 0), f(r.clients1.p50Ms), f(r.clients1.p99Ms), f(r.clients1.opsPerCommit, 1)],
    ['baseline: autocommit insert', f(r.baselineAutocommit.opsPerSec, 0), f(r.baselineAutocommit.p50Ms), f(r.baselineAutocommit.p99Ms), '1.0'],
  ];
  const head = ['case', 'ops/s', 'p50 ms', 'p99 ms', 'ops/commit'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  const verdict = `target ≥ ${r.targetOpsPerSec} ops/s with 8 clients: ${r.meetsTarget ? 'met' : 'NOT met'}`;
  return [line(head), ...rows.map(line), verdict].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const seconds = Number(process.argv[2] ?? 3);
  console.log(formatLedgerBench(await benchLedger(seconds)));
}
