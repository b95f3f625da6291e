/**
 * @module
 * The `fs` section: what a world's files cost its snapshots and branches, per filesystem backend of the
 * process driver (btrfs, copy, overlay), for worlds with no files, 100 MiB in 2,000 files and 1 GiB in
 * 50,000 files. Each figure sits beside the baselines of the same run: a cold Python start and a bare
 * `os.fork()` of a plain Python. Disk use (the bytes actually allocated under the runtime's home) is
 * recorded before and after populating and after N branches, to show whether a branch copies files.
 *
 * `measureBackend` measures one backend. Overlay works with isolation 'tree' only, which runs unprivileged:
 * as root, its rows are measured by this module run as a child process as nobody (`node fs.js --fs-child
 * ...` under setpriv, on a home owned by nobody), which prints each row as a JSON line. See bench/README.md
 * for each row.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type ExecResult, type Isolation, type Snapshot, type World, WorldRuntime } from '../src/index.js';
import { PY, forkFloor, spawnTimes } from './process.js';
import { type Row, type RowInput, SEED_250, type Target, p50AtMost, row, skipped, sleep, timed } from './stats.js';

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

interface Size {
  label: string;
  files: number;
  bytes: number;
}

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

/** Python: `files` files of `bytes / files` bytes each (one random block, 1,000 files a folder), flushed to disk. */
function populateCode(s: Size): string {
  const each = Math.floor(s.bytes / s.files);
  return `import os
_b = os.urandom(${each})
for _d in range(${Math.ceil(s.files / 1000)}):
    os.makedirs('/world/data/%03d' % _d)
for _i in range(${s.files}):
    with open('/world/data/%03d/%05d' % (_i // 1000, _i), 'wb') as _f:
        _f.write(_b)
del _b
os.sync()`;
}

const ONE_MB = '/world/onemb.bin';
/** Python, the first request a branch gets: the first write into a 1 MB file its source holds, in ms. */
const FIRST_WRITE = `import time as _t
_t0 = _t.perf_counter()
_f = open('${ONE_MB}', 'r+b')
_f.write(b'x')
_f.flush()
_ms = (_t.perf_counter() - _t0) * 1000
_f.close()
_ms`;

async function ok(p: Promise<ExecResult>): Promise<ExecResult> {
  const r = await p;
  if (r.error) throw new Error(`exec failed in a bench world: ${r.error.type}: ${r.error.message}`);
  return r;
}

/**
 * Bytes allocated under `home` on its own filesystem: the btrfs image's blocks, or the copy and overlay
 * backends' folders. overlayfs makes the `work` folder inside each work dir mode 000 (its scratch space,
 * empty between operations): du run by its unprivileged owner (overlay as nobody) cannot read it and leaves
 * it out; any other error fails the row.
 */
function diskBytes(home: string): number {
  const r = spawnSync('du', ['-x', '-s', '--block-size=1', home], { encoding: 'utf8' });
  const bytes = Number(r.stdout?.split('\t')[0] || Number.NaN);
  const errs = (r.stderr ?? '').split('\n').filter((l) => l && !/^du: cannot read directory '.*\/work': Permission denied$/.test(l));
  if (errs.length > 0 || Number.isNaN(bytes)) throw new Error(`du -x -s ${home}: ${errs[0] ?? r.error?.message ?? `exit ${r.status ?? r.signal}`}`);
  return bytes;
}

/** Python: how many lower layers the world's overlayfs /world has (its mount's `lowerdir+=` options). */
const LOWERS = `sum(l.split(' - ')[1].count('lowerdir+=') for l in open('/proc/self/mountinfo') if l.split()[4] == '/world')`;

/** overlay: the depth of the stack under `w` (that of its last snapshot), which grows with every snapshot. */
async function stackNote(w: World): Promise<string> {
  const r = await w.exec(LOWERS);
  return r.error
    ? `stack depth not read (${r.error.message})`
    : `overlay stack under this snapshot: ${r.value} layers (the world's grows by one per snapshot of it and per branch of it while live; flattened in the background from 48)`;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/**
 * The driver's private per-snapshot pool: its size (read when a snapshot's spares are refilled) and how many
 * spares a snapshot holds now. Used to turn the pool off for the pool-off rows without a second runtime (the
 * populated world is reused), and to say in each note whether the pool was warm. Undefined when the driver
 * does not look as expected.
 */
interface DriverPeek {
  opts?: { sparesPerSnapshot?: number };
  procs?: Map<string, { spares?: unknown[]; ready?: Promise<unknown> }>;
}
const peek = (rt: WorldRuntime) => rt.driver as unknown as DriverPeek;
const spares = (rt: WorldRuntime, s: Snapshot) => peek(rt).procs?.get(s.id)?.spares?.length;
/**
 * A snapshot resolves at the fork and connects after: undefined once it has, else why it never did. One
 * whose connection failed before `snapshot()` returned is already gone from the driver (yet 'ready' to the
 * caller).
 */
async function connected(rt: WorldRuntime, s: Snapshot): Promise<string | undefined> {
  const procs = peek(rt).procs;
  const proc = procs?.get(s.id);
  if (procs && !proc) return 'gone from the driver by the time snapshot() returned: its connection had failed';
  return proc?.ready?.then(
    () => undefined,
    (err: Error) => err.message,
  );
}

/** Wait (bounded) until `s` holds `want` spares again; resolves with how many it holds. */
async function refilled(rt: WorldRuntime, s: Snapshot, want: number, maxMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  while ((spares(rt, s) ?? want) < want && performance.now() - t0 < maxMs) await sleep(5);
  return spares(rt, s);
}

function poolNote(depth: (number | undefined)[]): string {
  const seen = depth.filter((x): x is number => x !== undefined);
  if (seen.length === 0) return 'spares: not visible';
  const empty = seen.filter((x) => x === 0).length;
  if (empty === seen.length) return 'no spare before any';
  return `spares ready before each: ${Math.min(...seen)}–${Math.max(...seen)}${empty ? ` (none ${empty} of ${seen.length} times: those forked on the spot)` : ''}`;
}

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

  /** Targets of the issue, for the 1 GiB world: p50 ≤ 5 ms and ≤ 2× the no-files world's; the seed's 250 ms. */
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
    const drv = peek(rt).opts;
    const pool = drv?.sparesPerSnapshot ?? 2;
    const setPool = (n: number) => {
      if (drv) drv.sparesPerSnapshot = n;
    };
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
      if (heavy) setPool(0);
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
        skip('branch nopool', "the driver's pool size is not where the bench looks");
        skip('disk', 'needs a snapshot without spares');
      } else {
        setPool(0);
        const s0 = await w.snapshot();
        branched = false;
        try {
          const nopool = await attempt('branch nopool', async () => {
            const d0: (number | undefined)[] = [];
            const cold = await this.loop(p.branchN, async () => {
              d0.push(spares(rt, s0));
              return branchOnce(s0);
            });
            return { samples: cold.ms, note: `sparesPerSnapshot 0 (${poolNote(d0)}): every branch forks on the spot${cold.cut}` };
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
          if (!heavy) setPool(pool);
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
      setPool(pool);
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

/** The unprivileged user the overlay rows run as when the bench is root (overlay needs isolation 'tree'). */
const NOBODY = 65534;
const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];
/** The child's stdout lines that carry a row; anything else it prints is logged. */
const ROW_LINE = 'fs-row ';
/** The child entry point: `node fs.js --fs-child --backend=B --isolation=I --home=H [--quick]` (childMain). */
const CHILD_FLAG = '--fs-child';
/** Longest the child may run (the full section's overlay rows take a few minutes). */
const CHILD_TIMEOUT_MS = 60 * 60_000;

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * Why the overlay rows cannot run as nobody here, or undefined: setpriv (util-linux) must exist, and nobody
 * must be allowed the unprivileged user namespace isolation 'tree' makes (the check the runtime does,
 * run as nobody).
 */
function nobodyMissing(): string | undefined {
  if (!onPath('setpriv'))
    return "setpriv (util-linux) is not installed: as root the bench runs the overlay rows as nobody through it (isolation 'tree' runs unprivileged only)";
  const r = spawnSync('setpriv', [...AS_NOBODY, 'unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount', '--mount-proc', 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n')[0];
    return `unprivileged user namespaces are not allowed for nobody (uid ${NOBODY}), which overlay needs (isolation 'tree'): setpriv … unshare --user --map-root-user --pid --mount failed: ${why}`;
  }
  return undefined;
}

/** SIGKILL each process of the child's runtimes (`--runtime <child pid>-…` on its command line); how many. */
function killRuntimesOf(pid: number): string[] {
  const killed: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf('--runtime');
      if (at < 0 || !argv[at + 1]?.startsWith(`${pid}-`)) continue;
      process.kill(Number(name), 'SIGKILL');
      killed.push(`${name} ${argv.join(' ').trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/**
 * `measureBackend` in a child process running as nobody (setpriv) with isolation 'tree', on `o.home` chowned
 * to nobody: its rows come back as JSON lines, its progress on stderr is logged. A child that fails or leaves
 * rows out adds a skipped row saying how it ended; any process of its runtimes still alive afterwards is
 * killed and named in that row (the keepers end their trees when the child's connection drops, so there
 * should be none).
 */
async function asNobody(backend: Backend, o: BackendOptions, emit: (r: FsRow) => void): Promise<void> {
  const group = `fs ${backend}`;
  const missing = nobodyMissing();
  if (missing) return emit({ backend, kind: 'snapshot', size: 0, row: skipped(group, `${backend}: every row`, missing) });
  chownSync(o.home, NOBODY, NOBODY);
  const argv = [...AS_NOBODY, process.execPath, fileURLToPath(import.meta.url), CHILD_FLAG, `--backend=${backend}`, '--isolation=tree', `--home=${o.home}`];
  if (o.quick) argv.push('--quick');
  o.log(`  ${backend}: as root, measured by a child process as nobody (uid ${NOBODY}), isolation tree`);
  const child = spawn('setpriv', argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH, HOME: o.home, LANG: 'C.UTF-8' } });
  let rows = 0;
  const tail: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith(ROW_LINE)) return o.log(`  ${backend} (child): ${line}`);
    // JSON has no NaN: the child's NaN fields (n, p50, … of a skipped row) arrive as null.
    emit(JSON.parse(line.slice(ROW_LINE.length), (_k, v) => (v === null ? Number.NaN : v)) as FsRow);
    rows++;
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    o.log(line);
    tail.push(line);
    if (tail.length > 5) tail.shift();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const end = await new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`could not start setpriv: ${err.message}`));
    child.once('close', (code, signal) => resolve(code === 0 ? '' : `exit ${signal ?? code}`));
  });
  clearTimeout(timer);
  const left = child.pid === undefined ? [] : killRuntimesOf(child.pid);
  if (left.length) o.log(`  ${backend}: killed ${left.length} process(es) of the child's runtime left after it: ${left.slice(0, 3).join('; ')}`);
  if (end || left.length) {
    const why = `${end ? `the nobody child ended with ${end}${tail.length ? ` (${tail.at(-1)?.trim()})` : ''}` : 'the nobody child exited'}${left.length ? `; ${left.length} process(es) of its runtime outlived it (killed)` : ''}`;
    emit({ backend, kind: 'snapshot', size: rows ? SIZES.length : 0, row: skipped(group, `${backend}: ${rows ? 'remaining rows' : 'every row'}`, why) });
  }
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
