/**
 * @module
 * The E2B-compatible API's benchmarks: each operation through the real `@e2b/code-interpreter` SDK against
 * a daemon (its own process, loopback TCP, `/e2b`), beside the same operation through the library API in
 * the same run, so the difference is what the protocol costs. Rows: Sandbox.create → first runCode
 * answered, fork(3) → all three answered, createSnapshot, and one runCode.
 *
 * `npm run bench -- --only=e2b`, or alone: `node dist/bench/e2b.js [--quick]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox } from '@e2b/code-interpreter';
import { type World, WorldRuntime } from '../src/index.js';
import { startDaemon, stopDaemon } from './daemon-rig.js';
import { fmt, headlineAtMost, p50AtMost, type Row, row, sleep } from './stats.js';

export interface E2bBenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

/** Idle time between samples, so each runtime's warm pools are full again (both sides get the same). */
const GAP_MS = 400;

interface Samples {
  create: number[];
  fork: number[];
  snapshot: number[];
  call: number[];
}

const empty = (): Samples => ({ create: [], fork: [], snapshot: [], call: [] });

async function oneLibrary(rt: WorldRuntime, s: Samples): Promise<void> {
  let t0 = performance.now();
  const w = await rt.create();
  await w.exec('1 + 1');
  s.create.push(performance.now() - t0);
  await w.exec('state = list(range(1000))');
  t0 = performance.now();
  await w.exec('len(state)');
  s.call.push(performance.now() - t0);
  await sleep(GAP_MS);
  t0 = performance.now();
  const forks = await rt.branch(w, 3);
  await Promise.all(forks.map((f: World) => f.exec('len(state)')));
  s.fork.push(performance.now() - t0);
  t0 = performance.now();
  const snap = await w.snapshot();
  s.snapshot.push(performance.now() - t0);
  await Promise.all([w, ...forks].map((x) => x.destroy()));
  await snap.destroy();
}

async function oneSdk(s: Samples): Promise<void> {
  let t0 = performance.now();
  const sbx = await Sandbox.create();
  await sbx.runCode('1 + 1');
  s.create.push(performance.now() - t0);
  await sbx.runCode('state = list(range(1000))');
  t0 = performance.now();
  await sbx.runCode('len(state)');
  s.call.push(performance.now() - t0);
  await sleep(GAP_MS);
  t0 = performance.now();
  const forks = await sbx.fork({ count: 3 });
  const ok = forks.filter((f): f is Sandbox => f instanceof Sandbox);
  if (ok.length !== 3) throw new Error(`a fork failed: ${forks.map((f) => (f instanceof Error ? f.message : 'ok')).join(', ')}`);
  await Promise.all(ok.map((f) => f.runCode('len(state)')));
  s.fork.push(performance.now() - t0);
  t0 = performance.now();
  const snap = await sbx.createSnapshot();
  s.snapshot.push(performance.now() - t0);
  await Promise.all([sbx, ...ok].map((x) => x.kill()));
  await Sandbox.deleteSnapshot(snap.snapshotId);
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  return a.length ? (a[Math.floor((a.length - 1) / 2)] as number) : Number.NaN;
}

export async function benchE2b(opts: E2bBenchOptions): Promise<Row[]> {
  const n = opts.quick ? 8 : 30;
  const home = mkdtempSync(join(tmpdir(), 'wr-bench-e2b-'));
  const libHome = mkdtempSync(join(tmpdir(), 'wr-bench-e2b-lib-'));
  const daemon = await startDaemon(home);
  const rt = await WorldRuntime.open({ home: libHome, warn: () => {} }); // as the daemon: with its record
  process.env.E2B_API_URL = `${daemon.url}/e2b`;
  process.env.E2B_SANDBOX_URL = `${daemon.url}/e2b`;
  process.env.E2B_API_KEY = daemon.token;
  const lib = empty();
  const sdk = empty();
  try {
    // One of each first: connections, the SDK's lazy loads and the daemon's host-compiled helper.
    await oneLibrary(rt, empty());
    await oneSdk(empty());
    for (let i = 0; i < n; i++) {
      await sleep(GAP_MS);
      await oneLibrary(rt, lib);
      await sleep(GAP_MS);
      await oneSdk(sdk);
      if (i % 5 === 4) opts.log(`e2b: ${i + 1}/${n}`);
    }
  } finally {
    await rt.close();
    await stopDaemon(daemon.proc);
    rmSync(home, { recursive: true, force: true });
    rmSync(libHome, { recursive: true, force: true });
  }
  /** The protocol's cost per call: the difference of the p50s over the calls made one after another. */
  const vs = (sdkSamples: number[], libSamples: number[], calls: number, own?: Row['targets'][number]) => ({
    headline: { value: (median(sdkSamples) - median(libSamples)) / calls, unit: 'ms/call', how: `(SDK p50 − library p50) / ${calls} calls` },
    targets: [...(own ? [own] : []), headlineAtMost(3, 'overhead ≤ 3 ms/call')],
  });
  const g = 'e2b';
  return [
    row({ group: g, label: 'library: create → first exec answered', samples: lib.create }),
    row({ group: g, label: 'SDK: Sandbox.create → first runCode answered', samples: sdk.create, ...vs(sdk.create, lib.create, 2, p50AtMost(25)) }),
    row({ group: g, label: 'library: branch(world, 3) → all 3 exec answered', samples: lib.fork }),
    row({ group: g, label: 'SDK: fork(count 3) → all 3 runCode answered', samples: sdk.fork, ...vs(sdk.fork, lib.fork, 2, p50AtMost(30)) }),
    row({ group: g, label: 'library: world.snapshot()', samples: lib.snapshot }),
    row({ group: g, label: 'SDK: createSnapshot()', samples: sdk.snapshot, ...vs(sdk.snapshot, lib.snapshot, 1) }),
    row({ group: g, label: 'library: exec', samples: lib.call }),
    row({ group: g, label: 'SDK: runCode', samples: sdk.call, ...vs(sdk.call, lib.call, 1) }),
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const rows = await benchE2b({ quick, log: (l) => process.stderr.write(`${l}\n`) });
  for (const r of rows) {
    const t = r.targets.map((x) => `${x.met ? '✓' : '✗'} ${x.text}`).join('  ');
    const h = r.headline ? `  ${r.headline.value >= 0 ? '+' : ''}${fmt(r.headline.value)} ${r.headline.unit}` : '';
    process.stdout.write(`${r.label.padEnd(52)} n=${String(r.n).padStart(3)}  p50 ${fmt(r.p50).padStart(6)} ms  p99 ${fmt(r.p99).padStart(6)} ms${h}  ${t}\n`);
  }
}
