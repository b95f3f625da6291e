/**
 * @module
 * The morph driver's benchmarks: create → first exec, snapshot, and branch(snapshot, 3) → all three first
 * exec answered, through `WorldRuntime.open({driver: 'morph'})` against a local daemon's /morph routes (its
 * own process, loopback TCP, `serve --driver microvm`), beside the same operations on the microvm driver
 * in this process, in the same run: the difference is what Morph's API and the exec-call agent cost.
 * Never Morph's cloud: the base URL is the daemon's 127.0.0.1 address.
 *
 * `npm run bench -- --only=morph`, or alone: `node dist/bench/morph.js [--quick]`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorldRuntime } from '../src/index.js';
import { type Row, row, sleep } from './stats.js';

export interface MorphBenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
/** The machine-wide microvm asset cache (as test/drivers/microvm/helpers.ts): copied, never written. */
const CACHE = join(process.env.WORLD_RUNTIME_MICROVM_TEST_HOME ?? join(tmpdir(), 'world-runtime-microvm-assets'), 'microvm');

function homeWithAssets(tag: string): string {
  const home = mkdtempSync(join(tmpdir(), tag));
  if (existsSync(CACHE)) cpSync(CACHE, join(home, 'microvm'), { recursive: true });
  return home;
}

async function startDaemon(home: string): Promise<{ proc: ChildProcess; url: string; token: string }> {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--home', home, '--listen', '127.0.0.1:0', '--driver', 'microvm', '--no-record'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const t0 = Date.now();
  while (!/daemon ready/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited:\n${out}`);
    if (Date.now() - t0 > 300_000) throw new Error(`the daemon did not start:\n${out}`);
    await sleep(25);
  }
  const url = /tcp (http:\/\/[^\s,]+)/.exec(out)?.[1];
  if (!url) throw new Error(`no TCP address in:\n${out}`);
  return { proc, url, token: readFileSync(join(home, 'token'), 'utf8').trim() };
}

async function stopDaemon(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([exited, sleep(25_000)]);
  if (proc.exitCode === null) proc.kill('SIGKILL');
}

interface Samples {
  create: number[];
  snapshot: number[];
  branch: number[];
}

async function once(rt: WorldRuntime, s: Samples): Promise<void> {
  let t0 = performance.now();
  const w = await rt.create();
  await w.exec('state = list(range(1000))');
  s.create.push(performance.now() - t0);
  t0 = performance.now();
  const snap = await w.snapshot();
  s.snapshot.push(performance.now() - t0);
  t0 = performance.now();
  const kids = await rt.branch(snap, 3);
  await Promise.all(kids.map((k) => k.exec('len(state)')));
  s.branch.push(performance.now() - t0);
  await Promise.all([w, ...kids].map((x) => x.destroy()));
  await snap.destroy();
}

export async function benchMorph(opts: MorphBenchOptions): Promise<Row[]> {
  const n = opts.quick ? 3 : 10;
  const daemonHome = homeWithAssets('wr-bench-morph-');
  const libHome = homeWithAssets('wr-bench-morph-lib-');
  const daemon = await startDaemon(daemonHome);
  const local = await WorldRuntime.open({ home: libHome, driver: 'microvm', record: false, warn: () => {} });
  const morph = await WorldRuntime.open({ home: mkdtempSync(join(tmpdir(), 'wr-bench-morph-rt-')), driver: 'morph', record: false, morph: { apiKey: daemon.token, baseUrl: `${daemon.url}/morph` }, warn: () => {} });
  const lib: Samples = { create: [], snapshot: [], branch: [] };
  const rem: Samples = { create: [], snapshot: [], branch: [] };
  try {
    // One of each first: templates (the morph driver's agent template) and connections.
    await once(local, { create: [], snapshot: [], branch: [] });
    await once(morph, { create: [], snapshot: [], branch: [] });
    for (let i = 0; i < n; i++) {
      await once(local, lib);
      await once(morph, rem);
      opts.log(`morph: ${i + 1}/${n}`);
    }
  } finally {
    await morph.close();
    rmSync(morph.home, { recursive: true, force: true });
    await local.close();
    await stopDaemon(daemon.proc);
    rmSync(daemonHome, { recursive: true, force: true });
    rmSync(libHome, { recursive: true, force: true });
  }
  const g = 'morph';
  return [
    row({ group: g, label: 'microvm driver: create → first exec', samples: lib.create }),
    row({ group: g, label: 'morph driver (daemon /morph on microvm): create → first exec', samples: rem.create }),
    row({ group: g, label: 'microvm driver: snapshot', samples: lib.snapshot }),
    row({ group: g, label: 'morph driver: snapshot', samples: rem.snapshot }),
    row({ group: g, label: 'microvm driver: branch(snapshot, 3) → all 3 first exec', samples: lib.branch }),
    row({ group: g, label: 'morph driver: branch(snapshot, 3) → all 3 first exec', samples: rem.branch }),
  ];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const rows = await benchMorph({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) });
  for (const r of rows) process.stdout.write(`${r.label.padEnd(64)} n=${r.n} p50=${r.p50.toFixed(1)} ms p99=${r.p99.toFixed(1)} ms\n`);
}
