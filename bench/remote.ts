/**
 * @module
 * Remote engines beside the embedded one: the same WorldRuntime calls on `driver: 'e2b'`, pointed at a
 * daemon's E2B-compatible API on loopback (its own process), and on the process driver, in the same run with
 * the same idle time between samples. Rows per driver: create → first exec answered, snapshot, and
 * branch(snapshot, 3) → the first exec of all three answered. On loopback the e2b rows measure the protocol
 * and the SDK; against E2B itself add the network round trips and E2B's own create and snapshot times.
 *
 * `npm run bench -- --only=remote`, or alone: `node dist/bench/remote.js [--quick]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OpenOptions, WorldRuntime } from '../src/index.js';
import { noSamples, round, startDaemon, stopDaemon } from './daemon-rig.js';
import { fmt, type Row, row, sleep } from './stats.js';

export interface RemoteBenchOptions {
  quick: boolean;
  log: (line: string) => void;
}

/** Idle time between samples, so warm pools (the process driver's, the daemon's) are full again. */
const GAP_MS = 400;

export async function benchRemote(opts: RemoteBenchOptions): Promise<Row[]> {
  const n = opts.quick ? 8 : 30;
  const engineHome = mkdtempSync(join(tmpdir(), 'wr-bench-remote-engine-'));
  const homes = [mkdtempSync(join(tmpdir(), 'wr-bench-remote-process-')), mkdtempSync(join(tmpdir(), 'wr-bench-remote-e2b-'))] as const;
  const daemon = await startDaemon(engineHome);
  const url = `${daemon.url}/e2b`;
  // Every endpoint explicit: nothing leaves 127.0.0.1 whatever the environment says.
  const e2b: OpenOptions = { driver: 'e2b', e2b: { apiUrl: url, sandboxUrl: url, domain: 'world-runtime.invalid', apiKey: daemon.token } };
  const local = await WorldRuntime.open({ home: homes[0], warn: () => {} });
  const remote = await WorldRuntime.open({ home: homes[1], warn: () => {}, ...e2b });
  const got = { process: noSamples(), e2b: noSamples() };
  try {
    await round(local, noSamples(), GAP_MS); // warm-up: connections, the SDK's lazy loads, the daemon's helper
    await round(remote, noSamples(), GAP_MS);
    for (let i = 0; i < n; i++) {
      await sleep(GAP_MS);
      await round(local, got.process, GAP_MS);
      await sleep(GAP_MS);
      await round(remote, got.e2b, GAP_MS);
      if (i % 5 === 4) opts.log(`remote: ${i + 1}/${n}`);
    }
  } finally {
    await remote.close();
    await local.close();
    await stopDaemon(daemon.proc);
    for (const h of [engineHome, ...homes]) rmSync(h, { recursive: true, force: true });
  }
  const g = 'remote';
  return [
    row({ group: g, label: 'process: create → first exec answered', samples: got.process.create }),
    row({ group: g, label: 'e2b (loopback daemon): create → first exec answered', samples: got.e2b.create }),
    row({ group: g, label: 'process: snapshot', samples: got.process.snapshot }),
    row({ group: g, label: 'e2b (loopback daemon): snapshot', samples: got.e2b.snapshot }),
    row({ group: g, label: 'process: branch(3) → first exec of all 3', samples: got.process.branch }),
    row({ group: g, label: 'e2b (loopback daemon): branch(3) → first exec of all 3', samples: got.e2b.branch }),
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await benchRemote({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) });
  for (const r of rows)
    process.stdout.write(`${r.label.padEnd(56)} n=${String(r.n).padStart(3)}  p50 ${fmt(r.p50).padStart(6)} ms  p99 ${fmt(r.p99).padStart(6)} ms\n`);
}
