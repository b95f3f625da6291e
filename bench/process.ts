/**
 * @module
 * Process-driver benchmarks, with the baselines measured in the same run: a cold Python start and a bare
 * `os.fork()` of a Python holding the same state as the worlds (the floor a branch can approach). Every
 * figure is the wall time seen by the caller of the public API, until the new world has answered an exec.
 * See bench/README.md for what each row means. The parts: ./process-plan.ts (samples, world sizes),
 * ./process-rigs.ts (runtime or bare driver), ./process-probes.ts (host measurements), ./process-load.ts
 * (memory, rate, speedup).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorldRuntime } from '../src/index.js';
import { idleMemory, rate, speedup } from './process-load.js';
import { MEM_CODE, PY, type Plan, type ProcessBenchOptions, plan, SIZES, STATE_RECIPE, stateCode } from './process-plan.js';
import { forkFloor, pathPython, spawnTimes } from './process-probes.js';
import { type BSnap, type BWorld, DriverRig, isolationOf, type Loop, ok, poolNote, type Rig, type RigKind, RuntimeRig, spareDepth } from './process-rigs.js';
import { type Row, SEED_250, p50AtMost, row, skipped, sleep, timed } from './stats.js';

export type { ProcessBenchOptions } from './process-plan.js';
// Other benches build the same worlds and baselines.
export { PY, stateCode } from './process-plan.js';
export { forkFloor, spawnTimes } from './process-probes.js';

export class Bench {
  readonly rows: Row[] = [];
  readonly warnings = new Set<string>();
  readonly homes: string[] = [];
  readonly pyStarts: number[] = [];
  readonly p: Plan;
  isolation = 'unknown';

  constructor(readonly o: ProcessBenchOptions) {
    this.p = plan(o.quick);
  }

  readonly warn = (m: string) => {
    if (!this.warnings.has(m)) this.o.log(m);
    this.warnings.add(m);
  };

  async openRig(kind: RigKind): Promise<Rig> {
    const home = mkdtempSync(join(tmpdir(), 'wr-bench-'));
    this.homes.push(home);
    if (kind === 'pool') {
      const rt = await WorldRuntime.open({ home, isolation: this.o.isolation, record: false, warn: this.warn });
      return new RuntimeRig(rt);
    }
    return DriverRig.open(home, this.o.isolation, this.warn);
  }

  /** Run `fn` on a fresh rig, closed afterwards whatever happens. */
  async withRig<T>(kind: RigKind, fn: (rig: Rig) => Promise<T>): Promise<T> {
    const rig = await this.openRig(kind);
    try {
      return await fn(rig);
    } finally {
      await rig.close();
    }
  }

  add(r: Row): void {
    r.load1 = Math.round((loadavg()[0] ?? 0) * 100) / 100;
    this.rows.push(r);
  }

  /** A world holding `mb` MB of state; returns it with its measured RSS. */
  async stateWorld(rig: Rig, mb: number): Promise<{ w: BWorld; rssMib: number; hugeMib: number }> {
    const w = await rig.create();
    await ok(w.exec(stateCode(mb)));
    const r = await ok(w.exec(MEM_CODE));
    const [rss, huge] = String(r.value)
      .slice(1, -1)
      .split(',')
      .map((x) => Number(x) / 1024);
    return { w, rssMib: rss ?? Number.NaN, hugeMib: huge ?? Number.NaN };
  }

  // -- baselines ----------------------------------------------------------------------------------

  async baseline(): Promise<void> {
    const { p } = this;
    const py = PY;
    // Half now, half at the end of the run (pythonStartAgain), so the ×py reference spans the run's load.
    this.pyStarts.push(...(await spawnTimes(PY, ['-I', '-S', '-c', 'pass'], Math.ceil(p.pyStartN / 2))));
    const viaPath = await spawnTimes('python3', ['-c', 'pass'], p.shimStartN).catch(() => null);
    const which = pathPython();
    this.add(
      viaPath
        ? row({ group: 'baseline', label: 'cold start: python3 -c pass via PATH', samples: viaPath, note: `PATH finds ${which}` })
        : skipped('baseline', 'cold start: python3 -c pass via PATH', 'no python3 on PATH'),
    );
    // Worlds ask glibc for malloc on transparent huge pages; whether they get them is shown beside each
    // world's exec row ("on huge pages"). The floor is given both ways.
    const thp = { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };
    for (const mb of SIZES) {
      for (const [env, pages] of [
        [thp, 'THP malloc'],
        [{}, '4 KiB pages'],
      ] as const) {
        const f = await forkFloor(py, mb, p.forkN, env);
        this.add(
          row({
            group: 'baseline',
            label: `floor: os.fork() of a ${mb} MB Python → child answers (${pages})`,
            samples: f.answer,
            note: `the fork() call alone p50 ${f.forkP50.toFixed(2)} ms; RSS ${f.rssMib.toFixed(0)} MiB, ${f.hugeMib.toFixed(0)} MiB on huge pages${'GLIBC_TUNABLES' in env ? ' (glibc.malloc.hugetlb=1)' : ''}`,
          }),
        );
      }
    }
  }

  /** The second half of the cold python start baseline; its row goes first. */
  async pythonStartAgain(): Promise<void> {
    this.pyStarts.push(...(await spawnTimes(PY, ['-I', '-S', '-c', 'pass'], Math.floor(this.p.pyStartN / 2))));
    this.add(
      row({
        group: 'baseline',
        label: `cold start: ${PY} -I -S -c pass`,
        samples: this.pyStarts,
        note: 'spawned from node and waited for, like every start below; half of the samples at the start of the run, half at the end',
      }),
    );
    this.rows.unshift(this.rows.pop() as Row);
  }

  // -- create -------------------------------------------------------------------------------------

  async creates(): Promise<void> {
    const { p } = this;
    const target = [p50AtMost(60), SEED_250];
    await this.withRig('nopool', async (rig) => {
      this.isolation = await isolationOf(rig);
      const t = await this.createLoop(rig, p.createN, 100);
      this.add(
        row({
          group: 'create',
          label: 'cold create → first exec (pool off: pool.worlds 0)',
          samples: t.ms,
          targets: target,
          note: '100 ms idle between creates',
        }),
      );
    });
    await this.withRig('pool', async (rig) => {
      await sleep(p.createGapMs); // the first spare sandbox
      const gapped = await this.createLoop(rig, p.createN, p.createGapMs);
      this.add(
        row({
          group: 'create',
          label: `create → first exec, warm pool, ${p.createGapMs} ms idle between (spare refills)`,
          samples: gapped.ms,
          targets: [SEED_250],
          note: poolNote('spare sandboxes ready', gapped.depth),
        }),
      );
      await sleep(p.createGapMs);
      const worlds: BWorld[] = [];
      const each: number[] = [];
      const all = await timed(async () => {
        for (let i = 0; i < p.createN; i++) {
          const t = await timed(async () => {
            const w = await rig.create();
            await ok(w.exec('1'));
            return w;
          });
          each.push(t.ms);
          worlds.push(t.value);
        }
      });
      const rate = (p.createN / all.ms) * 1000;
      this.add(
        row({
          group: 'create',
          label: `create → first exec, back to back ×${p.createN} (default pool: 1 spare)`,
          samples: each,
          headline: { value: rate, unit: 'creates/s', how: `${p.createN} creates / total wall time` },
          targets: [SEED_250],
          note: `no idle time: each take of the spare starts a new sandbox in the background while the next create starts its own; worlds kept until the end; ${rate.toFixed(1)} creates/s`,
        }),
      );
      await Promise.all(worlds.map((w) => w.destroy()));
    });
  }

  async createLoop(rig: Rig, n: number, gapMs: number): Promise<Loop> {
    const out: Loop = { ms: [], depth: [] };
    for (let i = 0; i < n; i++) {
      out.depth.push(spareDepth(rig));
      const { ms, value: w } = await timed(async () => {
        const w = await rig.create();
        await ok(w.exec('1'));
        return w;
      });
      out.ms.push(ms);
      await w.destroy();
      await sleep(gapMs);
    }
    return out;
  }

  // -- exec, snapshot, branch per world size ------------------------------------------------------

  async perSize(mb: number): Promise<void> {
    const { p } = this;
    const gap = p.branchGapMs[mb] ?? 100;
    const branchTargets = [p50AtMost(mb >= 200 ? 5 : 3), SEED_250];
    await this.withRig('pool', async (rig) => {
      const { w, rssMib, hugeMib } = await this.stateWorld(rig, mb);
      const size = `${mb} MB world`;
      const rss = `world RSS ${rssMib.toFixed(0)} MiB, ${hugeMib.toFixed(0)} MiB on huge pages`;
      // exec round trip
      for (let i = 0; i < 10; i++) await ok(w.exec('1'));
      const execs: number[] = [];
      for (let i = 0; i < p.execN; i++) execs.push((await timed(() => ok(w.exec('1')))).ms);
      this.add(row({ group: 'exec', label: `exec('1') round trip, ${size}`, samples: execs, note: rss }));
      // snapshot
      const snaps: number[] = [];
      for (let i = 0; i < p.snapshotN; i++) {
        const { ms, value: s } = await timed(() => w.snapshot());
        snaps.push(ms);
        await sleep(gap); // let its spares be forked, as they would be in use
        await s.destroy();
        await sleep(20);
      }
      this.add(
        row({
          group: 'snapshot',
          label: `snapshot, ${size}, ${gap} ms idle between`,
          samples: snaps,
          targets: mb >= 200 ? [p50AtMost(5), SEED_250] : [SEED_250],
          note: 'resolves at the fork; its spares are forked in the idle time, then it is destroyed',
        }),
      );
      // branch from a snapshot, warm pool
      const s = await w.snapshot();
      await sleep(gap * 3);
      const fromSnap = await this.branchLoop(rig, s, p.branchN, gap, s);
      this.add(
        row({
          group: 'branch',
          label: `branch(snapshot) → first exec, ${size}, warm pool, ${gap} ms idle between`,
          samples: fromSnap.ms,
          targets: branchTargets,
          note: poolNote("snapshot's spares ready", fromSnap.depth),
        }),
      );
      await s.destroy();
      // branch from the live world (no spares are kept for a live world: it forks on the spot)
      const fromLive = await this.branchLoop(rig, w, p.branchN, gap);
      this.add(
        row({
          group: 'branch',
          label: `branch(live world) → first exec, ${size}, ${gap} ms idle between`,
          samples: fromLive.ms,
          targets: branchTargets,
          note: 'a live world keeps no spares: every branch forks on the spot',
        }),
      );
    });
    await this.withRig('nopool', async (rig) => {
      const { w } = await this.stateWorld(rig, mb);
      const size = `${mb} MB world`;
      const s = await w.snapshot();
      await sleep(gap);
      const cold = await this.branchLoop(rig, s, p.branchN, gap);
      this.add(
        row({
          group: 'branch',
          label: `branch(snapshot) → first exec, ${size}, pool off`,
          samples: cold.ms,
          targets: branchTargets,
          note: `pool.branchesPerSnapshot 0: every branch forks on the spot; ${gap} ms idle between`,
        }),
      );
    });
  }

  async branchLoop(rig: Rig, source: BWorld | BSnap, n: number, gapMs: number, pooled?: BSnap): Promise<Loop> {
    const out: Loop = { ms: [], depth: [] };
    for (let i = 0; i < n; i++) {
      if (pooled) out.depth.push(spareDepth(rig, pooled));
      const { ms, value: b } = await timed(async () => {
        const [b] = await rig.branch(source, 1);
        await ok((b as BWorld).exec('1'));
        return b as BWorld;
      });
      out.ms.push(ms);
      await b.destroy();
      await sleep(gapMs);
    }
    return out;
  }

  cleanup(): void {
    for (const h of this.homes) rmSync(h, { recursive: true, force: true });
  }
}

/** Every process benchmark, in order; each part's failure becomes a skipped row rather than ending the run. */
export async function benchProcess(o: ProcessBenchOptions): Promise<{ rows: Row[]; warnings: string[]; isolation: string; recipe: string }> {
  const b = new Bench(o);
  const parts: [string, () => Promise<void>][] = [
    ['baseline', () => b.baseline()],
    ['create', () => b.creates()],
    ...SIZES.map((mb): [string, () => Promise<void>] => [`${mb} MB world: exec, snapshot, branch`, () => b.perSize(mb)]),
    ['memory per idle branch', () => idleMemory(b)],
    ['branches per second', () => rate(b)],
    ['parallel speedup', () => speedup(b)],
    ['baseline (python start, second half)', () => b.pythonStartAgain()],
  ];
  try {
    for (const [name, fn] of parts) {
      const t = await timed(async () => {
        try {
          await fn();
        } catch (err) {
          b.add(skipped(name.split(' ')[0] as string, name, (err as Error).message.split('\n')[0] as string));
        }
      });
      o.log(`  ${name}: ${(t.ms / 1000).toFixed(1)} s`);
    }
  } finally {
    b.cleanup();
  }
  return { rows: b.rows, warnings: [...b.warnings], isolation: b.isolation, recipe: STATE_RECIPE };
}
