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
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorldRuntime } from '../src/index.js';
import { noSamples, round, startDaemon, stopDaemon } from './daemon-rig.js';
import { type Row, row } from './stats.js';

export interface MorphBenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

/** The machine-wide microvm asset cache (as test/drivers/microvm/helpers.ts): copied, never written. */
const CACHE = join(process.env.WORLD_RUNTIME_MICROVM_TEST_HOME ?? join(tmpdir(), 'world-runtime-microvm-assets'), 'microvm');

function homeWithAssets(tag: string): string {
  const home = mkdtempSync(join(tmpdir(), tag));
  if (existsSync(CACHE)) cpSync(CACHE, join(home, 'microvm'), { recursive: true });
  return home;
}

export async function benchMorph(opts: MorphBenchOptions): Promise<Row[]> {
  const n = opts.quick ? 3 : 10;
  const daemonHome = homeWithAssets('wr-bench-morph-');
  const libHome = homeWithAssets('wr-bench-morph-lib-');
  const daemon = await startDaemon(daemonHome, ['--driver', 'microvm', '--no-record'], 300_000);
  const local = await WorldRuntime.open({ home: libHome, driver: 'microvm', record: false, warn: () => {} });
  const morph = await WorldRuntime.open({ home: mkdtempSync(join(tmpdir(), 'wr-bench-morph-rt-')), driver: 'morph', record: false, morph: { apiKey: daemon.token, baseUrl: `${daemon.url}/morph` }, warn: () => {} });
  const lib = noSamples();
  const rem = noSamples();
  try {
    // One of each first: templates (the morph driver's agent template) and connections.
    await round(local, noSamples());
    await round(morph, noSamples());
    for (let i = 0; i < n; i++) {
      await round(local, lib);
      await round(morph, rem);
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
