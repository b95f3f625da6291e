/**
 * @module
 * Bench rows of the microvm driver (`npm run bench`, section "microvm"; or alone:
 * `node dist/bench/microvm.js [--quick]`). Every figure is wall time seen by the caller of the Driver
 * interface, p50/p99 over n samples, beside a baseline measured in the same run (a cold python3 start):
 *
 * - create: a clone of the template snapshot, until the new world has answered: in steady use (a spare
 *   world handed over), without a spare world (a restore into a spare VM), and with nothing prepared (QEMU
 *   start-up included);
 * - snapshot of a running world (it keeps running);
 * - branch → first exec: branch one world from a snapshot and run exec("1") in it;
 * - 4 parallel branches all answering: branch 4 worlds from a snapshot, exec("1") in each, until all answer;
 * - cold setup with the kernel package already fetched (initramfs, system image, template boot).
 *
 * Targets (issue 5, under TCG on a 2-core machine): create ≤ 250 ms, snapshot ≤ 60 ms, branch → first
 * exec ≤ 250 ms, 4 parallel ≤ 600 ms, cold setup ≤ 30 s.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { findQemu } from '../src/drivers/microvm/assets.js';
import { type AccelMode, MicrovmDriver, setupMicrovm } from '../src/drivers/microvm/index.js';
import { fmt, p50AtMost, type Row, row, skipped } from './stats.js';

export interface BenchMicrovmOptions {
  quick?: boolean;
  log?: (line: string) => void;
  /** State directory with the cached assets. @default $WORLD_RUNTIME_MICROVM_HOME or <tmp>/world-runtime-microvm-assets */
  home?: string;
  accel?: AccelMode;
  /** Also time a cold setup (kernel fetch excluded) in a scratch home: ≈15–30 s. @default !quick */
  coldSetup?: boolean;
  /** World memory in MiB. @default 512 (the runtime's default) */
  memoryMib?: number;
}

export const DEFAULT_HOME = process.env.WORLD_RUNTIME_MICROVM_HOME ?? path.join(tmpdir(), 'world-runtime-microvm-assets');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function time(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** The p50/p99 of each microvm figure, as bench rows (see bench/stats.ts). */
export async function benchMicrovm(opts: BenchMicrovmOptions = {}): Promise<Row[]> {
  const log = opts.log ?? (() => {});
  const quick = opts.quick ?? false;
  const home = opts.home ?? DEFAULT_HOME;
  const mem = opts.memoryMib ?? 512;
  const n = quick ? 5 : 20;
  const group = 'microvm';
  const q = await findQemu().catch(() => null);
  if (!q) return [skipped(group, 'microvm driver', 'qemu-system-x86_64 is not installed')];

  const rows: Row[] = [];
  // Baseline: the same cold interpreter start the process-driver rows are compared with.
  const py: number[] = [];
  for (let i = 0; i < (quick ? 5 : 10); i++) py.push(await time(async () => execFileSync('/usr/bin/python3', ['-I', '-S', '-c', 'pass'])));
  rows.push(row({ group, label: 'baseline: cold start of /usr/bin/python3 -I -S -c pass', samples: py }));

  log(`  setup (assets in ${home})…`);
  const setupMs = await time(() => setupMicrovm({ home, accel: opts.accel, memoryMib: mem, onProgress: (m) => log(`    ${m}`) }));
  const d = new MicrovmDriver({ home, accel: opts.accel });
  try {
    const rep = await d.doctor();
    const w0 = await d.create({ id: 'bench-src', memoryMib: mem, vcpus: 1 });
    const rep2 = await d.doctor();
    const accel = String(rep2.accel);
    const accelNote = rep2.notes.find((x) => x.startsWith('accelerator:')) ?? rep.notes.find((x) => x.startsWith('accelerator:')) ?? '';
    log(`  ${accelNote}; setup check ${Math.round(setupMs)} ms`);
    await d.exec(w0, 'import random\ndata = [random.random() for _ in range(200000)]\nlen(data)', {});
    await sleep(800); // let the spare VMs start

    // create
    const create: number[] = [];
    for (let i = 0; i < n; i++) {
      let id = '';
      create.push(
        await time(async () => {
          id = (await d.create({ id: `bench-c${i}`, memoryMib: mem, vcpus: 1 })).id;
        }),
      );
      await d.destroyWorld({ id });
      await sleep(400);
    }
    rows.push(row({ group, label: `create (clone of the template, ${mem} MiB, ${accel}) → answered`, samples: create, targets: [p50AtMost(250)] }));

    // snapshot of a running world
    const snap: number[] = [];
    let size = 0;
    for (let i = 0; i < n; i++) {
      let sid = '';
      snap.push(
        await time(async () => {
          const s = await d.snapshot(w0, `bench-s${i}`);
          sid = s.id;
          size = s.sizeBytes ?? 0;
        }),
      );
      await d.destroySnapshot({ id: sid });
      await sleep(100);
    }
    rows.push(
      row({
        group,
        label: 'snapshot of a running world (it keeps running)',
        samples: snap,
        targets: [p50AtMost(60)],
        headline: { value: size / 2 ** 20, unit: 'MiB/snapshot', how: 'RAM in use + device state, on tmpfs' },
      }),
    );

    // branch → first exec
    const base = await d.snapshot(w0, 'bench-base');
    const first: number[] = [];
    for (let i = 0; i < n; i++) {
      let id = '';
      first.push(
        await time(async () => {
          const [b] = await d.branch(base, { ids: [`bench-b${i}`], memoryMib: mem, sameRandom: false });
          id = (b as { id: string }).id;
          await d.exec({ id }, '1', {});
        }),
      );
      await d.destroyWorld({ id });
      await sleep(400);
    }
    rows.push(row({ group, label: 'branch → first exec (one world from a snapshot)', samples: first, targets: [p50AtMost(250)] }));

    // 4 parallel branches all answering. One unmeasured round first: it tells the driver to keep 4 spare
    // VMs for this shape (it keeps as many as the largest recent branch, up to 8).
    {
      const warm = await d.branch(base, { ids: [0, 1, 2, 3].map((k) => `bench-pw-${k}`), memoryMib: mem, sameRandom: false });
      await Promise.all(warm.map((b) => d.destroyWorld(b)));
      await sleep(2000);
    }
    const par: number[] = [];
    for (let i = 0; i < Math.max(3, Math.floor(n / 2)); i++) {
      let ids: string[] = [];
      par.push(
        await time(async () => {
          const bs = await d.branch(base, { ids: [0, 1, 2, 3].map((k) => `bench-p${i}-${k}`), memoryMib: mem, sameRandom: false });
          ids = bs.map((b) => b.id);
          await Promise.all(bs.map((b) => d.exec(b, '1', {})));
        }),
      );
      await Promise.all(ids.map((id) => d.destroyWorld({ id })));
      await sleep(1500); // four spare VMs to refill
    }
    rows.push(row({ group, label: '4 parallel branches, all answered exec("1")', samples: par, targets: [p50AtMost(600)] }));

    // What create costs without a spare world (a restore into a spare VM), and with nothing prepared at
    // all (QEMU's start-up included).
    for (const [label, extra] of [
      ['create without a spare world (restore into a spare VM)', { spareWorlds: 0 }],
      ['create with nothing prepared (QEMU start + restore)', { spareWorlds: 0, spareVms: 0 }],
    ] as const) {
      const other = new MicrovmDriver({ home, accel: opts.accel, ...extra });
      try {
        const cs: number[] = [];
        await other.destroyWorld(await other.create({ id: 'bench-warm', memoryMib: mem, vcpus: 1 }));
        await sleep(800);
        for (let i = 0; i < Math.max(3, Math.floor(n / 2)); i++) {
          let id = '';
          cs.push(
            await time(async () => {
              id = (await other.create({ id: `bench-n${i}`, memoryMib: mem, vcpus: 1 })).id;
            }),
          );
          await other.destroyWorld({ id });
          await sleep(400);
        }
        rows.push(
          row({
            group,
            label,
            samples: cs,
            note: 'informational: the driver keeps 1 spare world and 2 spare VMs per shape in use (options `spareWorlds`, `spareVms`)',
          }),
        );
      } finally {
        await other.close();
      }
    }
    await d.destroySnapshot(base);
  } finally {
    await d.close();
  }

  if (opts.coldSetup ?? !quick) {
    // Cold setup: a scratch home that has only the unpacked kernel (the fetch is excluded by the target).
    const scratch = mkdtempSync(path.join(tmpdir(), 'wr-microvm-cold-'));
    try {
      cpSync(path.join(home, 'microvm', 'kernel'), path.join(scratch, 'microvm', 'kernel'), { recursive: true });
      const ms = await time(() => setupMicrovm({ home: scratch, accel: opts.accel, memoryMib: mem, onProgress: (m) => log(`    cold: ${m}`) }));
      rows.push(
        row({
          group,
          label: 'cold setup, kernel fetch excluded (initramfs, system image, template boot)',
          samples: [ms],
          targets: [p50AtMost(30_000, 'p50 ≤ 30 s')],
        }),
      );
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  for (const r of rows) r.load1 = loadavg()[0];
  return rows;
}

// Alone: node dist/bench/microvm.js [--quick]
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const quick = process.argv.includes('--quick');
  const rows = await benchMicrovm({ quick, log: (l) => process.stderr.write(`${l}\n`) });
  const w = Math.max(...rows.map((r) => r.label.length));
  process.stdout.write(
    `load ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}\n`,
  );
  for (const r of rows) {
    const t = r.targets.map((x) => `${x.met ? '✓' : '✗'} ${x.text}`).join('  ');
    const h = r.headline ? `  ${fmt(r.headline.value)} ${r.headline.unit}` : '';
    process.stdout.write(
      `${r.label.padEnd(w)}  n=${String(r.n).padStart(2)}  p50 ${fmt(r.p50).padStart(6)}  p99 ${fmt(r.p99).padStart(6)} ${r.unit}${h}  ${t}${r.note ? `  (${r.note})` : ''}\n`,
    );
  }
}
