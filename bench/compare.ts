/**
 * @module
 * Before/after: the create and branch rows of two builds of world-runtime, measured in one run, their
 * samples interleaved (old, new, new, old, ...) so both see the same load. For a change on the branch path,
 * build the commit before it in a worktree and compare:
 *
 *   git worktree add /tmp/wr-before <commit> && (cd /tmp/wr-before && npm install && npm run build)
 *   npm run build && node dist/bench/compare.js --old=/tmp/wr-before [--quick] [--after-open='{"fs":"copy"}']
 *
 * Each side opens its runtimes with its own defaults (isolation and fs 'auto'; doctor's choice is printed),
 * plus what `--before-open` / `--after-open` add: to tell one part of a change from another.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stateCode } from './process.js';
import { fmt, sleep, summarize, timed } from './stats.js';

/** The part of the library's API both builds have. */
interface BWorld {
  exec(code: string): Promise<{ value?: string | null; error?: unknown }>;
  snapshot(): Promise<BSnap>;
  destroy(): Promise<void>;
}
interface BSnap {
  destroy(): Promise<void>;
}
interface BRuntime {
  create(o?: object): Promise<BWorld>;
  branch(from: BSnap | BWorld, n: number): Promise<BWorld[]>;
  doctor(): Promise<{ drivers: { isolation?: string; fs?: string }[] }>;
  close(): Promise<void>;
}
interface BModule {
  WorldRuntime: { open(o: object): Promise<BRuntime> };
}

interface Side {
  name: string;
  mod: BModule;
  /** Extra options for its runtimes (`--before-open=JSON`, `--after-open=JSON`), e.g. {"fs":"copy"}. */
  extra: object;
  /** Default pools, and pools off (every create a cold start, every branch a fork on the spot). */
  pooled?: BRuntime;
  bare?: BRuntime;
  homes: string[];
  world?: BWorld;
  snap?: BSnap;
  bareWorld?: BWorld;
  bareSnap?: BSnap;
  samples: Map<string, number[]>;
}


async function ok(w: BWorld, code: string): Promise<void> {
  const r = await w.exec(code);
  if (r.error) throw new Error(`exec failed: ${JSON.stringify(r.error)}`);
}

const ROWS: { label: string; idleMs: number; measure: (s: Side) => Promise<number> }[] = [
  {
    label: 'create → first exec, default pool',
    idleMs: 400,
    measure: (s) => createOnce(s.pooled as BRuntime),
  },
  {
    label: 'create → first exec, pool off (cold start)',
    idleMs: 100,
    measure: (s) => createOnce(s.bare as BRuntime),
  },
  {
    label: 'snapshot, 10 MB world',
    idleMs: 100,
    measure: async (s) => {
      const { ms, value: snap } = await timed(() => (s.world as BWorld).snapshot());
      await sleep(60); // its spares are born before it is destroyed
      await snap.destroy();
      return ms;
    },
  },
  {
    label: 'branch(snapshot) → first exec, 10 MB, default pool',
    idleMs: 100,
    measure: (s) => branchOnce(s.pooled as BRuntime, s.snap as BSnap),
  },
  {
    label: 'branch(snapshot) → first exec, 10 MB, pool off',
    idleMs: 60,
    measure: (s) => branchOnce(s.bare as BRuntime, s.bareSnap as BSnap),
  },
  {
    label: 'branch(live world) → first exec, 10 MB',
    idleMs: 60,
    measure: (s) => branchOnce(s.bare as BRuntime, s.bareWorld as BWorld),
  },
];

/** `make` → the new world answered exec('1'), in ms; the world is destroyed after the clock stops. */
async function firstExec(make: () => Promise<BWorld>): Promise<number> {
  const { ms, value: w } = await timed(async () => {
    const w = await make();
    await ok(w, '1');
    return w;
  });
  await w.destroy();
  return ms;
}

const createOnce = (rt: BRuntime) => firstExec(() => rt.create());
const branchOnce = (rt: BRuntime, from: BSnap | BWorld) => firstExec(async () => (await rt.branch(from, 1))[0] as BWorld);

async function open(s: Side): Promise<void> {
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), `wr-cmp-${s.name}-`));
    s.homes.push(h);
    return h;
  };
  const warn = () => {};
  s.pooled = await s.mod.WorldRuntime.open({ home: home(), record: false, warn, ...s.extra });
  s.bare = await s.mod.WorldRuntime.open({ home: home(), record: false, warn, ...s.extra, pool: { worlds: 0, branchesPerSnapshot: 0 } });
  s.world = await s.pooled.create();
  await ok(s.world, stateCode(10));
  s.snap = await s.world.snapshot();
  s.bareWorld = await s.bare.create();
  await ok(s.bareWorld, stateCode(10));
  s.bareSnap = await s.bareWorld.snapshot();
  await sleep(500); // pools filled
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const old = args.find((a) => a.startsWith('--old='))?.slice('--old='.length);
  if (!old) throw new Error('usage: node dist/bench/compare.js --old=<checkout of the other build, built> [--quick]');
  const n = args.includes('--quick') ? 8 : 30;
  const extra = (name: string) => JSON.parse(args.find((a) => a.startsWith(`--${name}-open=`))?.slice(name.length + 8) ?? '{}') as object;
  const load = async (dir: string) => (await import(pathToFileURL(join(resolve(dir), 'dist/src/index.js')).href)) as BModule;
  const sides: Side[] = [
    { name: 'before', mod: await load(old), extra: extra('before'), homes: [], samples: new Map() },
    { name: 'after', mod: await load(fileURLToPath(new URL('../..', import.meta.url))), extra: extra('after'), homes: [], samples: new Map() },
  ];
  try {
    for (const s of sides) await open(s);
    for (const s of sides) {
      const d = (await (s.pooled as BRuntime).doctor()).drivers[0];
      process.stderr.write(`${s.name}: isolation ${d?.isolation ?? '?'}, files ${d?.fs ?? 'copied (no fs option)'}\n`);
    }
    for (const r of ROWS) {
      process.stderr.write(`${r.label} ×${n} per side\n`);
      for (let i = 0; i < n; i++) {
        // ABBA order: neither side is always first after an idle gap.
        for (const s of i % 2 === 0 ? sides : [...sides].reverse()) {
          await sleep(r.idleMs);
          const ms = await r.measure(s);
          s.samples.set(r.label, [...(s.samples.get(r.label) ?? []), ms]);
        }
      }
    }
  } finally {
    for (const s of sides) {
      await Promise.allSettled([s.pooled?.close(), s.bare?.close()]);
      for (const h of s.homes) rmSync(h, { recursive: true, force: true });
    }
  }
  const w = Math.max(...ROWS.map((r) => r.label.length));
  const out = [`${'row'.padEnd(w)}   before p50    p99    after p50    p99    Δp50 (ms)`];
  for (const r of ROWS) {
    const [b, a] = sides.map((s) => summarize(s.samples.get(r.label) ?? []));
    out.push(
      `${r.label.padEnd(w)}   ${fmt(b?.p50).padStart(10)} ${fmt(b?.p99).padStart(6)}   ${fmt(a?.p50).padStart(10)} ${fmt(a?.p99).padStart(6)}   ${((a?.p50 ?? 0) - (b?.p50 ?? 0)).toFixed(2).padStart(9)}`,
    );
  }
  process.stdout.write(`${out.join('\n')}\n(n = ${n} per side per row, interleaved; ms)\n`);
}

main().catch((err) => {
  process.stderr.write(`compare: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
