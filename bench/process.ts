/**
 * @module
 * Process-driver benchmarks (issue 2, item 5), with the baselines measured in the same run: a cold Python
 * start and a bare `os.fork()` of a Python holding the same state as the worlds (the floor a branch can
 * approach). Every figure is the wall time seen by the caller of the public API, until the new world has
 * answered an exec. See bench/README.md for what each row means.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WorldRuntime } from '../src/index.js';
import type { ExecResult, Isolation } from '../src/index.js';
import type { SnapshotHandle, WorldHandle } from '../src/drivers/driver.js';
import { ProcessDriver } from '../src/drivers/process/driver.js';
import { type Row, SEED_250, headlineAtLeast, headlineAtMost, p50AtMost, row, skipped, sleep, timed } from './stats.js';

const execFileP = promisify(execFile);

export interface ProcessBenchOptions {
  quick: boolean;
  isolation: Isolation;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** How many samples and how much idle time each part gets; `--quick` keeps the run near 30 s. */
interface Plan {
  pyStartN: number;
  shimStartN: number;
  forkN: number;
  createN: number;
  /** Idle time after each pooled create, so the spare sandbox is started again before the next. */
  createGapMs: number;
  execN: number;
  snapshotN: number;
  branchN: number;
  /** Idle time after each pooled branch, so the snapshot's spares are forked again: per world size. */
  branchGapMs: Record<number, number>;
  idleBranches: number;
  rateN: number;
  rateNoPoolN: number;
  batchSize: number;
  batches: number;
  cpuBranches: number;
  cpuReps: number;
  cpuTargetMs: number;
}

function plan(quick: boolean): Plan {
  return quick
    ? {
        pyStartN: 10,
        shimStartN: 3,
        forkN: 20,
        createN: 6,
        createGapMs: 400,
        execN: 50,
        snapshotN: 8,
        branchN: 10,
        branchGapMs: { 10: 60, 200: 150 },
        idleBranches: 100,
        rateN: 60,
        rateNoPoolN: 30,
        batchSize: 50,
        batches: 1,
        cpuBranches: 8,
        cpuReps: 1,
        cpuTargetMs: 300,
      }
    : {
        pyStartN: 30,
        shimStartN: 10,
        forkN: 60,
        createN: 25,
        createGapMs: 400,
        execN: 300,
        snapshotN: 30,
        branchN: 40,
        branchGapMs: { 10: 60, 200: 150 },
        idleBranches: 100,
        rateN: 200,
        rateNoPoolN: 100,
        batchSize: 50,
        batches: 4,
        cpuBranches: 8,
        cpuReps: 3,
        cpuTargetMs: 300,
      };
}

const SIZES = [10, 200] as const;
export const PY = '/usr/bin/python3';

/**
 * Python that builds a world of about `mb` MB of live state: three quarters in one bytearray (every page
 * written), one quarter as a list of small tuples `(i, str(i), float(i))` (~170 bytes each), so the heap has
 * the many small GC-tracked objects a real program has, not only one big buffer.
 */
export function stateCode(mb: number): string {
  const bytes = Math.round(mb * 0.75 * 2 ** 20);
  const objects = Math.round((mb * 0.25 * 2 ** 20) / 170);
  return `x = bytearray(b'\\xa5') * ${bytes}\nobjs = [(i, str(i), float(i)) for i in range(${objects})]\nNone`;
}

/** Python: (RSS kB, AnonHugePages kB) of the running process. */
const MEM_CODE = "(lambda t: (int(t.split('Rss:')[1].split()[0]), int(t.split('AnonHugePages:')[1].split()[0])))(open('/proc/self/smaps_rollup').read())";

export const STATE_RECIPE = 'N MB of state = bytearray(b"\\xa5") * 0.75N MiB (all pages written) + [(i, str(i), float(i)) for i in range(0.25N MiB / 170 B)]';

// ------------------------------------------------------------------------------------------------
// A rig: the same few operations over the public WorldRuntime (default pools) or over a ProcessDriver
// opened with chosen pool sizes (the open options of WorldRuntime do not take pool sizes yet).

interface BSnap {
  destroy(): Promise<void>;
}
interface BWorld {
  exec(code: string): Promise<ExecResult>;
  snapshot(): Promise<BSnap>;
  destroy(): Promise<void>;
}
interface Rig {
  readonly name: string;
  create(): Promise<BWorld>;
  branch(source: BWorld | BSnap, count: number): Promise<BWorld[]>;
  close(): Promise<void>;
}

class RuntimeRig implements Rig {
  readonly name = 'WorldRuntime (default pools: 1 spare sandbox, 2 spares per snapshot)';
  constructor(readonly rt: WorldRuntime) {}
  create(): Promise<BWorld> {
    return this.rt.create();
  }
  branch(source: BWorld | BSnap, count: number): Promise<BWorld[]> {
    return this.rt.branch(source as Parameters<WorldRuntime['branch']>[0], count);
  }
  close(): Promise<void> {
    return this.rt.close();
  }
}

let driverIds = 0;
const nextId = (p: string) => `${p}-bench-${++driverIds}`;

class DriverSnap implements BSnap {
  constructor(
    readonly d: ProcessDriver,
    readonly h: SnapshotHandle,
  ) {}
  destroy(): Promise<void> {
    return this.d.destroySnapshot(this.h);
  }
}
class DriverWorld implements BWorld {
  constructor(
    readonly d: ProcessDriver,
    readonly h: WorldHandle,
  ) {}
  exec(code: string): Promise<ExecResult> {
    return this.d.exec(this.h, code, {});
  }
  async snapshot(): Promise<BSnap> {
    return new DriverSnap(this.d, await this.d.snapshot(this.h, nextId('s')));
  }
  destroy(): Promise<void> {
    return this.d.destroyWorld(this.h);
  }
}
class DriverRig implements Rig {
  constructor(
    readonly d: ProcessDriver,
    readonly name: string,
  ) {}
  async create(): Promise<BWorld> {
    return new DriverWorld(this.d, await this.d.create({ id: nextId('w'), memoryMib: 512, vcpus: 1 }));
  }
  async branch(source: BWorld | BSnap, count: number): Promise<BWorld[]> {
    const h = source instanceof DriverWorld ? source.h : (source as DriverSnap).h;
    const ids = Array.from({ length: count }, () => nextId('w'));
    const hs = await this.d.branch(h, { ids, memoryMib: 512, sameRandom: false });
    return hs.map((x) => new DriverWorld(this.d, x));
  }
  close(): Promise<void> {
    return this.d.close();
  }
}

type RigKind = 'pool' | 'nopool';

/** Latencies of a loop, and how many spares the pool held before each iteration (when visible). */
interface Loop {
  ms: number[];
  depth: (number | undefined)[];
}

/**
 * How many spares the driver holds ready now: for `create` (no snapshot) or for one snapshot. A peek at the
 * driver's private state, used only to say in a row's note whether "warm pool" was true; undefined when the
 * driver does not look as expected.
 */
function spareDepth(rig: Rig, snap?: BSnap): number | undefined {
  const d = (rig instanceof RuntimeRig ? rig.rt.driver : rig instanceof DriverRig ? rig.d : undefined) as unknown as
    | { spareTrees?: unknown; procs?: Map<string, { spares?: unknown }> }
    | undefined;
  if (!d) return undefined;
  if (!snap) return Array.isArray(d.spareTrees) ? d.spareTrees.length : undefined;
  const id = snap instanceof DriverSnap ? snap.h.id : (snap as { id?: string }).id;
  const spares = id === undefined ? undefined : d.procs?.get(id)?.spares;
  return Array.isArray(spares) ? spares.length : undefined;
}

function poolNote(what: string, depth: (number | undefined)[]): string {
  const seen = depth.filter((x): x is number => x !== undefined);
  if (seen.length === 0) return `${what}: not visible`;
  const empty = seen.filter((x) => x === 0).length;
  return `${what} before each: ${Math.min(...seen)}–${Math.max(...seen)}${empty ? ` (none ${empty} of ${seen.length} times: those were cold)` : ' (never empty)'}`;
}

// ------------------------------------------------------------------------------------------------

class Bench {
  readonly rows: Row[] = [];
  readonly warnings = new Set<string>();
  readonly homes: string[] = [];
  readonly pyStarts: number[] = [];
  readonly p: Plan;
  isolation = 'unknown';

  constructor(readonly o: ProcessBenchOptions) {
    this.p = plan(o.quick);
  }

  private warn = (m: string) => {
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
    const d = await ProcessDriver.open({ home, isolation: this.o.isolation, spareTrees: 0, sparesPerSnapshot: 0, warn: this.warn });
    return new DriverRig(d, 'ProcessDriver (pools off: spareTrees 0, sparesPerSnapshot 0)');
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
          label: 'cold create → first exec (pool off: spareTrees 0)',
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

  private async createLoop(rig: Rig, n: number, gapMs: number): Promise<Loop> {
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
          note: `sparesPerSnapshot 0: every branch forks on the spot; ${gap} ms idle between`,
        }),
      );
    });
  }

  private async branchLoop(rig: Rig, source: BWorld | BSnap, n: number, gapMs: number, pooled?: BSnap): Promise<Loop> {
    const out: Loop = { ms: [], depth: [] };
    for (let i = 0; i < n; i++) {
      out.depth.push(pooled ? spareDepth(rig, pooled) : undefined);
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

  // -- memory per idle branch ---------------------------------------------------------------------

  async idleMemory(): Promise<void> {
    const n = this.p.idleBranches;
    await this.withRig('pool', async (rig) => {
      const { w, rssMib } = await this.stateWorld(rig, 10);
      const worldNs = Number((await ok(w.exec('import os; os.getpid()'))).value);
      const s = await w.snapshot();
      await sleep(300);
      const branches: BWorld[] = [];
      for (let left = n; left > 0; left -= 50) branches.push(...(await rig.branch(s, Math.min(50, left))));
      const nsPids = await Promise.all(branches.map(async (b) => Number((await ok(b.exec('import os; os.getpid()'))).value)));
      await sleep(500); // refills land, the branches go idle
      const agents = scanAgents(process.pid);
      // The world's tree: the pid namespace where every branch's own pid is found.
      const byNs = new Map<string, HostProc[]>();
      for (const a of agents) byNs.set(a.pidns, [...(byNs.get(a.pidns) ?? []), a]);
      const want = new Set(nsPids);
      const treeProcs = [...byNs.values()].find((ps) => nsPids.every((x) => ps.some((q) => q.nspid === x)) && ps.some((q) => q.nspid === worldNs));
      if (!treeProcs) {
        this.add(skipped('memory', `PSS per idle branch (${n} branches of a 10 MB world)`, "could not find the branches among this process's descendants"));
        return;
      }
      const branchProcs = treeProcs.filter((q) => want.has(q.nspid));
      const world = treeProcs.find((q) => q.nspid === worldNs);
      const snap = treeProcs.find((q) => q.ppid === world?.pid && !want.has(q.nspid));
      const spares = treeProcs.filter((q) => q.ppid === snap?.pid && !want.has(q.nspid));
      const others = agents.filter((q) => q.pidns !== treeProcs[0]?.pidns);
      const mem = branchProcs.map((q) => smaps(q.pid));
      const pss = mem.map((m) => m.pssKb / 1024);
      const uss = mem.map((m) => m.ussKb / 1024);
      const perBranch = pss.reduce((a, b) => a + b, 0) / branchProcs.length;
      const mib = (ps: HostProc[]) => ps.reduce((a, q) => a + smaps(q.pid).pssKb, 0) / 1024;
      const ctx = `world PSS ${mib(world ? [world] : []).toFixed(1)} MiB (RSS ${rssMib.toFixed(0)} MiB), snapshot PSS ${mib(snap ? [snap] : []).toFixed(1)} MiB`;
      this.add(
        row({
          group: 'memory',
          label: `PSS per idle branch: ${branchProcs.length} branches of a 10 MB world`,
          unit: 'MiB',
          samples: pss,
          headline: { value: perBranch, unit: 'MiB/branch', how: `sum of PSS over ${branchProcs.length} branches / ${branchProcs.length}` },
          targets: [headlineAtMost(2, 'PSS ≤ 2 MiB/branch')],
          note: ctx,
        }),
      );
      this.add(
        row({
          group: 'memory',
          label: 'USS (private pages) per idle branch, same branches',
          unit: 'MiB',
          samples: uss,
          headline: { value: uss.reduce((a, b) => a + b, 0) / uss.length, unit: 'MiB/branch' },
        }),
      );
      this.add(
        row({
          group: 'memory',
          label: `pool, counted apart: the snapshot's ${spares.length} pre-forked spares`,
          unit: 'MiB',
          samples: spares.map((q) => smaps(q.pid).pssKb / 1024),
          headline: { value: mib(spares), unit: 'MiB total' },
        }),
      );
      this.add(
        row({
          group: 'memory',
          label: `pool, counted apart: the spare sandbox for create (${others.length} processes)`,
          unit: 'MiB',
          samples: others.map((q) => smaps(q.pid).pssKb / 1024),
          headline: { value: mib(others), unit: 'MiB total' },
        }),
      );
    });
  }

  // -- branches per second ------------------------------------------------------------------------

  async rate(): Promise<void> {
    const { p } = this;
    for (const kind of ['pool', 'nopool'] as const) {
      const n = kind === 'pool' ? p.rateN : p.rateNoPoolN;
      await this.withRig(kind, async (rig) => {
        const { w } = await this.stateWorld(rig, 10);
        const s = await w.snapshot();
        await sleep(300);
        const each: number[] = [];
        const all = await timed(async () => {
          for (let i = 0; i < n; i++) {
            const t = await timed(async () => {
              const [b] = await rig.branch(s, 1);
              await ok((b as BWorld).exec('1'));
            });
            each.push(t.ms);
          }
        });
        const poolText = kind === 'pool' ? 'default pool' : 'pool off';
        this.add(
          row({
            group: 'rate',
            label: `branches/s, back to back ×${n}: branch(s, 1) → exec, 10 MB, ${poolText}`,
            samples: each,
            headline: { value: (n / all.ms) * 1000, unit: 'branches/s', how: `${n} / total wall time` },
            targets: [headlineAtLeast(200, '≥ 200 branches/s')],
            note: `samples: ms per branch; no idle time, all ${n} branches kept alive until the end`,
          }),
        );
      });
    }
    await this.withRig('pool', async (rig) => {
      const { w } = await this.stateWorld(rig, 10);
      const s = await w.snapshot();
      await sleep(300);
      const per: number[] = [];
      let total = 0;
      for (let i = 0; i < p.batches; i++) {
        const t = await timed(async () => {
          const bs = await rig.branch(s, p.batchSize);
          await Promise.all(bs.map((b) => ok(b.exec('1'))));
        });
        per.push(t.ms);
        total += t.ms;
      }
      const n = p.batches * p.batchSize;
      this.add(
        row({
          group: 'rate',
          label: `branches/s in batches: ${p.batches} × rt.branch(s, ${p.batchSize}) → all exec, 10 MB`,
          samples: per,
          headline: { value: (n / total) * 1000, unit: 'branches/s', how: `${n} / summed batch times` },
          targets: [headlineAtLeast(200, '≥ 200 branches/s')],
          note: `samples: ms per batch of ${p.batchSize} (from rt.branch until every branch of the batch has answered exec('1')); batches back to back, all kept alive`,
        }),
      );
    });
  }

  // -- parallel speedup ---------------------------------------------------------------------------

  async speedup(): Promise<void> {
    const { p } = this;
    await this.withRig('pool', async (rig) => {
      const { w } = await this.stateWorld(rig, 10);
      await ok(w.exec('def spin(n):\n    s = 0\n    for i in range(n):\n        s += i * i\n    return s\nimport time'));
      // Calibrate: the fastest of three probes, so that one exec takes about cpuTargetMs on a quiet core.
      let probe = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 3; i++)
        probe = Math.min(probe, Number((await ok(w.exec('t = time.perf_counter(); spin(1_000_000); time.perf_counter() - t'))).value));
      const iters = Math.max(10_000, Math.round((1_000_000 * p.cpuTargetMs) / 1000 / probe));
      const s = await w.snapshot();
      const bs = await rig.branch(s, p.cpuBranches);
      await Promise.all(bs.map((b) => ok(b.exec('1'))));
      const code = `spin(${iters})`;
      const ratios: number[] = [];
      const seqs: number[] = [];
      const pars: number[] = [];
      const inTurn = () =>
        timed(async () => {
          for (const b of bs) await ok(b.exec(code));
        });
      const atOnce = () => timed(() => Promise.all(bs.map((b) => ok(b.exec(code)))));
      for (let r = 0; r < p.cpuReps; r++) {
        // Alternate which goes first, so a change in the machine's load does not always favour one.
        const seq = r % 2 === 0 ? await inTurn() : undefined;
        const par = await atOnce();
        const seqMs = seq?.ms ?? (await inTurn()).ms;
        seqs.push(seqMs);
        pars.push(par.ms);
        ratios.push(seqMs / par.ms);
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
      const cores = availableParallelism();
      this.add(
        row({
          group: 'parallel',
          label: `speedup: a ${Math.round(med(seqs) / p.cpuBranches)} ms CPU-bound exec in ${p.cpuBranches} branches, at once vs in turn`,
          unit: 'x',
          samples: ratios,
          headline: { value: med(ratios), unit: `x (ideal here ${Math.min(cores, p.cpuBranches)}x on ${cores} cores)` },
          note: `samples: one ratio per repetition; exec spin(${iters}) (pure-Python loop); ${p.cpuBranches} in turn ${med(seqs).toFixed(0)} ms, at once ${med(pars).toFixed(0)} ms (medians); load ${(loadavg()[0] ?? 0).toFixed(1)}: on a busy machine 8 runnable processes get a larger share of the CPUs than 1, so the ratio can exceed the core count`,
        }),
      );
    });
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
    ['memory per idle branch', () => b.idleMemory()],
    ['branches per second', () => b.rate()],
    ['parallel speedup', () => b.speedup()],
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

// ------------------------------------------------------------------------------------------------
// helpers

async function ok(p: Promise<ExecResult>): Promise<ExecResult> {
  const r = await p;
  if (r.error) throw new Error(`exec failed in a bench world: ${r.error.type}: ${r.error.message}`);
  return r;
}

async function isolationOf(rig: Rig): Promise<string> {
  const d = rig instanceof DriverRig ? rig.d : (rig as RuntimeRig).rt.driver;
  const rep = await d.doctor();
  return String(rep.isolation ?? 'unknown');
}

/** Wall time of `n` cold process starts, each spawned and waited for. */
export async function spawnTimes(cmd: string, args: string[], n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const c = spawn(cmd, args, { stdio: 'ignore' });
      c.once('error', reject);
      c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
    });
    out.push(performance.now() - t0);
  }
  return out;
}

function pathPython(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, 'python3');
    if (dir && existsSync(p)) return p;
  }
  return 'not found';
}

/**
 * The floor: in a plain Python holding `mb` MB of the same state (gc.freeze() first, as the agent does),
 * time `os.fork()` until the child has written one byte to a pipe; and the fork() call alone.
 */
export async function forkFloor(
  py: string,
  mb: number,
  n: number,
  env: Record<string, string>,
): Promise<{ answer: number[]; forkP50: number; rssMib: number; hugeMib: number }> {
  const script = `
import gc, json, os, sys, time
${stateCode(mb)}
gc.freeze()
answer, call = [], []
for i in range(${n}):
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.write(w, b'x')
        os._exit(0)
    t1 = time.perf_counter()
    os.read(r, 1)
    t2 = time.perf_counter()
    os.waitpid(pid, 0)
    os.close(r); os.close(w)
    answer.append((t2 - t0) * 1000); call.append((t1 - t0) * 1000)
    time.sleep(0.005)
rss, huge = ${MEM_CODE}
print(json.dumps({"answer": answer, "call": call, "rss": rss / 1024, "huge": huge / 1024}))
`;
  const { stdout } = await execFileP(py, ['-I', '-S', '-c', script], { env: { PATH: '/usr/bin:/bin', ...env }, maxBuffer: 1 << 22 });
  const r = JSON.parse(stdout) as { answer: number[]; call: number[]; rss: number; huge: number };
  const call = [...r.call].sort((a, b) => a - b);
  return { answer: r.answer, forkP50: call[Math.floor(call.length / 2)] as number, rssMib: r.rss, hugeMib: r.huge };
}

interface HostProc {
  pid: number;
  ppid: number;
  /** Its pid inside its own (innermost) pid namespace: what os.getpid() says in the world. */
  nspid: number;
  pidns: string;
}

/** Agent processes (world, snapshot, spare, keeper) descending from `root`, as the host sees them. */
function scanAgents(root: number): HostProc[] {
  const ppid = new Map<number, number>();
  const agents: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      ppid.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      // A Python running the agent: a world forked in a fork tree still has its keeper's argv.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (/python[\d.]*$/.test(argv[0] ?? '') && argv.some((a) => a.endsWith('agent.py') || a.endsWith('keeper.py'))) agents.push(pid);
    } catch {} // gone meanwhile
  }
  const descends = (pid: number) => {
    for (let p = ppid.get(pid), hops = 0; p !== undefined && hops < 4096; p = ppid.get(p), hops++) if (p === root) return true;
    return false;
  };
  const out: HostProc[] = [];
  for (const pid of agents.filter(descends)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [String(pid)];
      out.push({ pid, ppid: ppid.get(pid) ?? 0, nspid: Number(ns[ns.length - 1]), pidns: readlinkSync(`/proc/${pid}/ns/pid`) });
    } catch {}
  }
  return out;
}

/** PSS and USS (private clean + dirty) of one process, from /proc/<pid>/smaps_rollup, in kB. */
function smaps(pid: number): { pssKb: number; ussKb: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { pssKb: field('Pss'), ussKb: field('Private_Clean') + field('Private_Dirty') };
}
