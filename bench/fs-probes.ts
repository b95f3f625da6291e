/**
 * @module
 * What the fs section's rows measure with: the Python that populates a world and times a first write, the
 * disk a home allocates, an overlay world's stack depth, and the process driver's per-snapshot pool (its
 * spares, through `ProcessDriver.poolState`), which the pool-off rows turn off and every note reports.
 */
import { spawnSync } from 'node:child_process';
import { ProcessDriver } from '../src/drivers/process/driver.js';
import type { ExecResult, Snapshot, World, WorldRuntime } from '../src/index.js';
import { sleep } from './stats.js';

export interface Size {
  label: string;
  files: number;
  bytes: number;
}

/** Python: `files` files of `bytes / files` bytes each (one random block, 1,000 files a folder), flushed to disk. */
export function populateCode(s: Size): string {
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

export const ONE_MB = '/world/onemb.bin';
/** Python, the first request a branch gets: the first write into a 1 MB file its source holds, in ms. */
export const FIRST_WRITE = `import time as _t
_t0 = _t.perf_counter()
_f = open('${ONE_MB}', 'r+b')
_f.write(b'x')
_f.flush()
_ms = (_t.perf_counter() - _t0) * 1000
_f.close()
_ms`;

export async function ok(p: Promise<ExecResult>): Promise<ExecResult> {
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
export function diskBytes(home: string): number {
  const r = spawnSync('du', ['-x', '-s', '--block-size=1', home], { encoding: 'utf8' });
  const bytes = Number(r.stdout?.split('\t')[0] || Number.NaN);
  const errs = (r.stderr ?? '').split('\n').filter((l) => l && !/^du: cannot read directory '.*\/work': Permission denied$/.test(l));
  if (errs.length > 0 || Number.isNaN(bytes)) throw new Error(`du -x -s ${home}: ${errs[0] ?? r.error?.message ?? `exit ${r.status ?? r.signal}`}`);
  return bytes;
}

/** Python: how many lower layers the world's overlayfs /world has (its mount's `lowerdir+=` options). */
export const LOWERS = `sum(l.split(' - ')[1].count('lowerdir+=') for l in open('/proc/self/mountinfo') if l.split()[4] == '/world')`;

/** overlay: the depth of the stack under `w` (that of its last snapshot), which grows with every snapshot. */
export async function stackNote(w: World): Promise<string> {
  const r = await w.exec(LOWERS);
  return r.error
    ? `stack depth not read (${r.error.message})`
    : `overlay stack under this snapshot: ${r.value} layers (the world's grows by one per snapshot of it and per branch of it while live; flattened in the background from 48)`;
}

export const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** The process driver behind a runtime, whose pools the pool-off rows resize; undefined for another driver. */
export const driverOf = (rt: WorldRuntime): ProcessDriver | undefined => (rt.driver instanceof ProcessDriver ? rt.driver : undefined);
/** How many pre-born branches `s` holds ready now (`ProcessDriver.poolState`); undefined for another driver. */
export const spares = (rt: WorldRuntime, s: Snapshot) => driverOf(rt)?.poolState(s.handle).readyBranches;
/**
 * A snapshot resolves at the fork and connects after: undefined once it has, else why it never did
 * (`ProcessDriver.whenConnected`).
 */
export async function connected(rt: WorldRuntime, s: Snapshot): Promise<string | undefined> {
  const d = driverOf(rt);
  return d?.whenConnected(s.handle).then(
    () => undefined,
    (err: Error) => err.message,
  );
}

/** Wait (bounded) until `s` holds `want` spares again; resolves with how many it holds. */
export async function refilled(rt: WorldRuntime, s: Snapshot, want: number, maxMs: number): Promise<number | undefined> {
  const t0 = performance.now();
  while ((spares(rt, s) ?? want) < want && performance.now() - t0 < maxMs) await sleep(5);
  return spares(rt, s);
}

export function poolNote(depth: (number | undefined)[]): string {
  const seen = depth.filter((x): x is number => x !== undefined);
  if (seen.length === 0) return 'spares: not visible';
  const empty = seen.filter((x) => x === 0).length;
  if (empty === seen.length) return 'no spare before any';
  return `spares ready before each: ${Math.min(...seen)}–${Math.max(...seen)}${empty ? ` (none ${empty} of ${seen.length} times: those forked on the spot)` : ''}`;
}
