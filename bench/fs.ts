import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Isolation, type Snapshot, type World, WorldRuntime } from '../src/index.js';
import { NOBODY, nobodyMissing, ROW_LINE, runAsNobody } from './fs-nobody.js';
import { connected, diskBytes, driverOf, FIRST_WRITE, mib, ONE_MB, ok, poolNote, populateCode, refilled, type Size, spares, stackNote } from './fs-probes.js';
import { forkFloor, PY, spawnTimes } from './process.js';
import { p50AtMost, type Row, type RowInput, row, SEED_250, skipped, type Target, timed } from './stats.js';

export interface FsBenchOptions {
  quick: boolean;
  isolation: Isolation;
  log: (line: string) => void;
}

/** Samples per row; a row also stops after `budgetMs` (at least 2 samples), so the copy backend stays bounded. */
interface Plan {
  pyN: number;
  forkN: number;
  snapN: number;
  branchN: number;
  writeN: number;
  /** Branches kept alive at once for the disk figure. */
  keepN: number;
  budgetMs: number;
  /** Longest wait for a snapshot's spares to be forked again between pooled samples. */
  spareWaitMs: number;
}

const plan = (quick: boolean): Plan =>
  quick
    ? { pyN: 6, forkN: 20, snapN: 6, branchN: 8, writeN: 6, keepN: 5, budgetMs: 4000, spareWaitMs: 10_000 }
    : { pyN: 20, forkN: 60, snapN: 20, branchN: 25, writeN: 20, keepN: 20, budgetMs: 6000, spareWaitMs: 30_000 };

const SIZES: Size[] = [
  { label: 'no files', files: 0, bytes: 0 },
  { label: '100 MiB in 2,000 files', files: 2000, bytes: 100 * 2 ** 20 },
  { label: '1 GiB in 50,000 files', files: 50_000, bytes: 2 ** 30 },
];
const BIG = SIZES[2] as Size;

const BACKENDS = ['btrfs', 'copy', 'overlay'] as const;
type Backend = (typeof BACKENDS)[number];

/** Row kinds, in table order within a backend. */
const KINDS = ['snapshot', 'branch pool', 'branch nopool', 'branch live', 'write', 'disk'] as const;
type Kind = (typeof KINDS)[number];

/** One row of the section, with what orders it in the table; the child prints each as one JSON line. */
export interface FsRow {
  backend: string;
  kind: Kind;
  size: number;
  row: Row;
}

export interface BackendOptions extends FsBenchOptions {
  /** The runtime's home: made (and removed) by the caller, empty. */
  home: string;
}

/**
 * Every row of one backend, on one runtime opened on `o.home` and closed before it returns; each row is
 * handed to `emit` as it is finished. Called in-process, or by the child entry point (below) as another user.
 */
export async function measureBackend(backend: Backend, o: BackendOptions, emit: (r: FsRow) => void): Promise<void> {
  const b = new BackendBench(backend, o, emit);
  try {
    await b.run();
  } catch (err) {
    b.add('snapshot', 0, skipped(`fs ${backend}`, `${backend}: remaining rows`, firstLine(err)));
  }
}

const firstLine = (err: unknown) => (err as Error).message.split('\n')[0] as string;

class BackendBench {
  /** p50 of each kind for the no-files world: the 2× targets of the 1 GiB world. */
  readonly empty = new Map<Kind, number>();
  readonly p: Plan;
  /** The runtime's isolation and files, from doctor, shown in the note of its first row. */
  setup = '';
  constructor(
    readonly backend: Backend,
    readonly o: BackendOptions,
    readonly emit: (r: FsRow) => void,
  ) {
    this.p = plan(o.quick);
  }

  add(kind: Kind, size: number, r: Row): void {
    r.load1 = Math.round((loadavg()[0] ?? 0) * 100) / 100;
    if (size === 0 && r.n > 0) this.empty.set(kind, r.p50);
    this.emit({ backend: this.backend, kind, size, row: r });
  }

  /** Samples of `fn` (ms) until `n` or the time budget; the note says when the budget cut the row. */
  async loop(n: number, fn: () => Promise<number>): Promise<{ ms: number[]; cut: string }> {
    const ms: number[] = [];
    const t0 = performance.now();
    while (ms.length < n) {
      ms.push(await fn());
      // Two samples at least, unless the first alone used the budget (a copy of 1 GiB).
      const spent = performance.now() - t0;
      if ((ms.length >= 2 && spent > this.p.budgetMs) || spent > 2 * this.p.budgetMs) break;
    }
    return { ms, cut: ms.length < n ? `; ${ms.length} of ${n} samples (${this.p.budgetMs / 1000} s budget)` : '' };
  }

  /** Targets for the 1 GiB world (bench/README.md): p50 ≤ 5 ms and ≤ 2× the no-files world's; the 250 ms every snapshot and branch is held to. */
  targets(kind: Kind, size: Size): Target[] {
    if (size !== BIG) return [SEED_250];
    const e = this.empty.get(kind);
    const twice = e === undefined || Number.isNaN(e) ? [] : [p50AtMost(2 * e, `≤ 2× no files (${(2 * e).toFixed(2)} ms)`)];
    return [p50AtMost(5), ...twice, SEED_250];
  }

  async run(): Promise<void> {
    const { backend, o } = this;
    const { home } = o;
    let rt: WorldRuntime | undefined;
    try {
      try {
        rt = await WorldRuntime.open({ home, isolation: o.isolation, fs: backend, record: false, warn: (m) => o.log(`  ${m}`) });
      } catch (err) {
        this.add('snapshot', 0, skipped(`fs ${backend}`, `${backend}: every row`, firstLine(err)));
        return;
      }
      const report = (await rt.doctor()).drivers[0] ?? {};
      this.setup = `isolation ${String(report.isolation)}, ${(report.notes as string[] | undefined)?.find((n) => n.startsWith('files:')) ?? `fs ${String(report.fs)}`}`;
      o.log(`  ${backend}: ${this.setup}`);
      for (const [i, size] of SIZES.entries()) {
        const t = await timed(() =>
          this.size(rt as WorldRuntime, i, size).catch((err: Error) =>
            this.add('disk', i, skipped(`fs ${backend}`, `the rows left, ${size.label}`, firstLine(err))),
          ),
        );
        o.log(`  ${backend}, ${size.label}: ${(t.ms / 1000).toFixed(1)} s`);
      }
    } finally {
      await rt?.close();
    }
  }

  /** Every row of one world size on one backend, from one world populated once. */
  async size(rt: WorldRuntime, si: number, size: Size): Promise<void> {
    const { p, backend } = this;
    const { home } = this.o;
    const group = `fs ${backend}`;
    const of = size.label;
    const drv = driverOf(rt);
    const pool = drv?.poolState().branchesPerSnapshot ?? 2;
    const setPool = async (n: number) => drv?.setPool({ branchesPerSnapshot: n });
    // The copy backend copies the whole world per snapshot, spare and branch: at 1 GiB that is tens of seconds
    // each, so --quick leaves it out, and the full run keeps the pool off (2 spares would copy 2 GiB per
    // snapshot in the background) and takes as few samples as the budget allows.
    const heavy = backend === 'copy' && size === BIG;
    const labels: Record<Kind, string> = {
      snapshot: `snapshot, ${of}`,
      'branch pool': `branch(snapshot) → first exec, default pool, ${of}`,
      'branch nopool': `branch(snapshot) → first exec, pool off, ${of}`,
      'branch live': `branch(live world) → first exec, ${of}`,
      write: `first write to a 1 MB file after branch(snapshot), ${of}`,
      disk: `disk allocated per branch, ${of}`,
    };
    const skip = (kind: Kind, why: string) => this.add(kind, si, skipped(group, labels[kind], why));
    if (heavy && this.o.quick) {
      this.add(
        'snapshot',
        si,
        skipped(
          group,
          `every row, ${of}`,
          'not run with --quick: on the copy backend every snapshot and branch of this world copies all of its files; run without --quick',
        ),
      );
      return;
    }
    /** One row: its failure becomes a skipped row with the error, and the rows after it still run. */
    const attempt = async (kind: Kind, fn: () => Promise<Omit<RowInput, 'group' | 'label'>>) => {
      try {
        const r = await fn();
        this.add(kind, si, row({ group, label: labels[kind], ...r, targets: r.targets ?? this.targets(kind, size) }));
        return true;
      } catch (err) {
        // The driver waits 10 s for a new world's connection, and on the copy backend that includes the copy.
        const why = heavy ? " (on the copy backend the driver's 10 s wait for a new world includes copying its files)" : '';
        skip(kind, `failed: ${(err as Error).message.split('\n')[0]}${why}`);
        return false;
      }
    };
    const branchOnce = async (source: Snapshot | World) => {
      const { ms, value: b } = await timed(async () => {
        const [b] = await rt.branch(source, 1);
        await ok((b as World).exec('1'));
        return b as World;
      });
      await b.destroy();
      return ms;
    };

    const w = await rt.create({ memoryMib: 1024, diskMib: 4096 });
    try {
      if (heavy) await setPool(0);
      await ok(w.exec('import os; os.sync()'));
      const before = diskBytes(home);
      let pop = 'no files';
      if (size.files > 0) {
        const t = await timed(() => ok(w.exec(populateCode(size), { timeoutMs: 600_000 })));
        pop = `populated in ${(t.ms / 1000).toFixed(1)} s (not a row)`;
        this.o.log(`  ${backend}, ${of}: ${pop}`);
      }
      const after = diskBytes(home);
      const want = heavy ? 0 : pool;

      const dead: string[] = [];
      let snapCount = 0;
      // 1. snapshot: idle until its spares are forked (as in use), then destroyed.
      await attempt('snapshot', async () => {
        const snaps = await this.loop(heavy ? 1 : p.snapN, async () => {
          const { ms, value: s } = await timed(() => w.snapshot());
          snapCount++;
          const err = await connected(rt, s);
          if (err) dead.push(err);
          await refilled(rt, s, want, p.spareWaitMs);
          await s.destroy();
          return ms;
        });
        const setup = si === 0 ? `; ${this.setup}` : '';
        const unusable = dead.length ? `; ${dead.length} of ${snaps.ms.length} never connected afterwards (${dead[0]}): unusable` : '';
        return {
          samples: snaps.ms,
          note: `resolves at the fork${heavy ? ' (pool off here)' : '; spares forked after each'}, then destroyed${unusable}; ${pop}${snaps.cut}${setup}`,
        };
      });

      // 2. branch(snapshot) → first exec, default pool: each branch takes a spare, idle until it is replaced.
      if (heavy) skip('branch pool', 'not run on the copy backend at 1 GiB: each spare is a copy of the whole world (see pool off)');
      else
        await attempt('branch pool', async () => {
          const s = await w.snapshot();
          try {
            const depth: (number | undefined)[] = [await refilled(rt, s, pool, p.spareWaitMs)];
            const pooled = await this.loop(p.branchN, async () => {
              const ms = await branchOnce(s);
              depth.push(await refilled(rt, s, pool, p.spareWaitMs));
              return ms;
            });
            depth.pop();
            return { samples: pooled.ms, note: `${poolNote(depth)}${pooled.cut}` };
          } finally {
            await s.destroy();
          }
        });

      // 3. branch(live world) → first exec: a live world keeps no spares.
      await attempt('branch live', async () => {
        const live = await this.loop(p.branchN, () => branchOnce(w));
        return { samples: live.ms, note: `forks on the spot${live.cut}` };
      });

      // 2'. Pools off: the same runtime with its per-snapshot pool at 0 (what pool.branchesPerSnapshot: 0 sets)
      // for as long as this snapshot lives, so the populated world is reused. Also used for the disk figure.
      if (dead.length > 0 && (heavy || dead.length >= snapCount)) {
        for (const k of ['branch nopool', 'disk', 'write'] as const) skip(k, `not run: this world's snapshots never connected (${dead[0]})`);
        return;
      }
      let branched = true;
      if (!drv) {
        skip('branch nopool', 'not the process driver: its pools cannot be resized');
        skip('disk', 'needs a snapshot without spares');
      } else {
        await setPool(0);
        const s0 = await w.snapshot();
        branched = false;
        try {
          const nopool = await attempt('branch nopool', async () => {
            const d0: (number | undefined)[] = [];
            const cold = await this.loop(p.branchN, async () => {
              d0.push(spares(rt, s0));
              return branchOnce(s0);
            });
            return { samples: cold.ms, note: `pool.branchesPerSnapshot 0 (${poolNote(d0)}): every branch forks on the spot${cold.cut}` };
          });
          // Disk: N branches of that snapshot alive at once (no spares, so exactly N), flushed, against the
          // allocation with the snapshot alone. The copy backend copies every file per branch: N stays ≤ 1 GiB.
          branched = nopool;
          if (!nopool) skip('disk', 'branching failed (see pool off)');
          else
            await attempt('disk', async () => {
              const n = backend === 'copy' && size.bytes > 0 ? Math.max(1, Math.min(p.keepN, Math.floor(2 ** 30 / size.bytes))) : p.keepN;
              await ok(w.exec('import os; os.sync()'));
              const withSnap = diskBytes(home);
              // One at a time: a single branch call of N copies could outlast the driver's wait for them.
              const bs: World[] = [];
              let kept = 0;
              try {
                for (let i = 0; i < n; i++) bs.push(...(await rt.branch(s0, 1)));
                await Promise.all(bs.map((b) => ok(b.exec('1'))));
                await ok((bs[0] as World).exec('import os; os.sync()'));
                kept = diskBytes(home);
              } finally {
                await Promise.all(bs.map((b) => b.destroy()));
              }
              const per = (kept - withSnap) / n / 2 ** 20;
              return {
                unit: 'MiB',
                samples: [per],
                headline: { value: per, unit: 'MiB/branch', how: `(allocated with ${n} branches − with their snapshot alone) / ${n}` },
                targets: [],
                note: `${n} branches alive; du -x of the home, after os.sync(): before populating ${mib(before)}, after ${mib(after)} (+${mib(after - before)}), with a snapshot ${mib(withSnap)}, with ${n} branches of it ${mib(kept)} (+${mib(kept - withSnap)})`,
              };
            });
        } finally {
          await s0.destroy();
          if (!heavy) await setPool(pool);
        }
      }

      // 4. First write to a 1 MB file after a branch (the file is added now, so rows 1–3 saw only the files above).
      if (heavy && !branched) return skip('write', 'not run: branching this world failed (see pool off)');
      await attempt('write', async () => {
        await ok(w.exec(`import os\nwith open('${ONE_MB}', 'wb') as _f:\n    _f.write(os.urandom(1 << 20))\nos.sync()`));
        const s1 = await w.snapshot();
        try {
          const d1: (number | undefined)[] = [];
          const writes = await this.loop(p.writeN, async () => {
            d1.push(await refilled(rt, s1, want, p.spareWaitMs));
            const [b] = await rt.branch(s1, 1);
            const ms = Number((await ok((b as World).exec(FIRST_WRITE))).value);
            await (b as World).destroy();
            return ms;
          });
          const depth = backend === 'overlay' ? `; ${await stackNote(w)}` : '';
          return {
            samples: writes.ms,
            targets: [p50AtMost(2)],
            note: `in the branch, as its first request: open(p, 'r+b').write(b'x') + flush(), timed in Python; ${poolNote(d1)}${writes.cut}${depth}`,
          };
        } finally {
          await s1.destroy();
        }
      });
    } finally {
      await setPool(pool);
      await w.destroy();
    }
  }
}

/** The section's table: the baselines (always measured here), then every backend's rows. */
class FsBench {
  readonly rows: FsRow[] = [];
  readonly base: Row[] = [];
  readonly p: Plan;
  constructor(readonly o: FsBenchOptions) {
    this.p = plan(o.quick);
  }

  async baselines(): Promise<void> {
    const py = await spawnTimes(PY, ['-I', '-S', '-c', 'pass'], this.p.pyN);
    this.base.push(row({ group: 'fs baseline', label: `cold start: ${PY} -I -S -c pass`, samples: py, note: 'spawned from node and waited for' }));
    // The worlds here hold no heap state: the floor is a fork of a plain Python (stateCode(0)), with the
    // huge-page malloc worlds ask for.
    const f = await forkFloor(PY, 0, this.p.forkN, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    this.base.push(
      row({
        group: 'fs baseline',
        label: 'floor: os.fork() of a plain Python → child answers',
        samples: f.answer,
        note: `measured as in the process section; the fork() call alone p50 ${f.forkP50.toFixed(2)} ms; RSS ${f.rssMib.toFixed(0)} MiB`,
      }),
    );
  }

  /** One backend's rows, on a fresh home removed after: in this process, or as nobody for overlay as root. */
  async backend(backend: Backend): Promise<void> {
    const emit = (r: FsRow) => this.rows.push(r);
    const home = mkdtempSync(join(tmpdir(), 'wr-bench-fs-'));
    try {
      if (backend === 'overlay' && process.getuid?.() === 0) await asNobody(backend, { ...this.o, home }, emit);
      else await measureBackend(backend, { ...this.o, home }, emit);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }

  /** Rows in table order: baselines, then per backend by kind, then by size. */
  ordered(): Row[] {
    const rank = (b: string) => BACKENDS.indexOf(b as Backend);
    const sorted = [...this.rows].sort((a, b) => rank(a.backend) - rank(b.backend) || KINDS.indexOf(a.kind) - KINDS.indexOf(b.kind) || a.size - b.size);
    return [...this.base, ...sorted.map((x) => x.row)];
  }
}

/** The `fs` section; a backend or size that fails becomes a skipped row with the reason. */
export async function benchFs(o: FsBenchOptions): Promise<{ rows: Row[] }> {
  const b = new FsBench(o);
  await b.baselines();
  for (const backend of BACKENDS) {
    const t = await timed(async () => {
      try {
        await b.backend(backend);
      } catch (err) {
        b.rows.push({ backend, kind: 'snapshot', size: 0, row: skipped(`fs ${backend}`, `${backend}: remaining rows`, firstLine(err)) });
      }
    });
    o.log(`  ${backend}: ${(t.ms / 1000).toFixed(1)} s`);
  }
  return { rows: b.ordered() };
}

// ---- Overlay as root: the same rows, measured by a child process running as nobody. ----

/** The child entry point: `node fs.js --fs-child --backend=B --isolation=I --home=H [--quick]` (childMain). */
const CHILD_FLAG = '--fs-child';

/**
 * `measureBackend` in a child process running as nobody with isolation 'tree' (bench/fs-nobody.ts). A child
 * that fails or leaves rows out adds a skipped row saying how it ended.
 */
async function asNobody(backend: Backend, o: BackendOptions, emit: (r: FsRow) => void): Promise<void> {
  const group = `fs ${backend}`;
  const missing = nobodyMissing();
  if (missing) return emit({ backend, kind: 'snapshot', size: 0, row: skipped(group, `${backend}: every row`, missing) });
  const argv = [fileURLToPath(import.meta.url), CHILD_FLAG, `--backend=${backend}`, '--isolation=tree', `--home=${o.home}`];
  if (o.quick) argv.push('--quick');
  o.log(`  ${backend}: as root, measured by a child process as nobody (uid ${NOBODY}), isolation tree`);
  const { rows, why } = await runAsNobody<FsRow>(argv, o.home, (l) => o.log(l.startsWith('  (child)') ? `  ${backend}${l.slice(1)}` : l), emit);
  if (why) emit({ backend, kind: 'snapshot', size: rows ? SIZES.length : 0, row: skipped(group, `${backend}: ${rows ? 'remaining rows' : 'every row'}`, why) });
}

async function childMain(args: string[]): Promise<void> {
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const backend = flag('backend') as Backend;
  const home = flag('home');
  if (!BACKENDS.includes(backend) || !home) throw new Error(`usage: node fs.js ${CHILD_FLAG} --backend=${BACKENDS.join('|')} --isolation=I --home=H [--quick]`);
  const o: BackendOptions = {
    quick: args.includes('--quick'),
    isolation: (flag('isolation') ?? 'auto') as Isolation,
    home,
    log: (l) => process.stderr.write(`${l}\n`),
  };
  await measureBackend(backend, o, (r) => process.stdout.write(`${ROW_LINE}${JSON.stringify(r)}\n`));
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] === fileURLToPath(import.meta.url)) await childMain(process.argv.slice(3));
