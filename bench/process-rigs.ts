/**
 * @module
 * A rig for the process-driver benchmarks (./process.ts): the same few operations over the public
 * WorldRuntime (default pools) or over a ProcessDriver opened with both pools off, and what the driver says
 * its pools hold ready before each sample (`ProcessDriver.poolState`), for the rows' notes.
 */
import type { SnapshotHandle, WorldHandle } from '../src/drivers/driver.js';
import { ProcessDriver } from '../src/drivers/process/driver.js';
import { type ExecResult, type Isolation, Snapshot, type WorldRuntime } from '../src/index.js';

export interface BSnap {
  destroy(): Promise<void>;
}
export interface BWorld {
  exec(code: string): Promise<ExecResult>;
  snapshot(): Promise<BSnap>;
  destroy(): Promise<void>;
}
export interface Rig {
  readonly name: string;
  readonly driver: ProcessDriver;
  create(): Promise<BWorld>;
  branch(source: BWorld | BSnap, count: number): Promise<BWorld[]>;
  close(): Promise<void>;
}

export class RuntimeRig implements Rig {
  readonly name = 'WorldRuntime (default pools: 1 spare sandbox, 2 spares per snapshot)';
  constructor(readonly rt: WorldRuntime) {}
  get driver(): ProcessDriver {
    return this.rt.driver as ProcessDriver;
  }
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

/** A ProcessDriver used directly, with both pools off: every create a cold start, every branch a fork. */
export class DriverRig implements Rig {
  readonly name = 'ProcessDriver (pools off: pool.worlds 0, pool.branchesPerSnapshot 0)';
  private constructor(readonly driver: ProcessDriver) {}
  static async open(home: string, isolation: Isolation, warn: (m: string) => void): Promise<DriverRig> {
    return new DriverRig(await ProcessDriver.open({ home, isolation, pool: { worlds: 0, branchesPerSnapshot: 0 }, warn }));
  }
  async create(): Promise<BWorld> {
    return new DriverWorld(this.driver, await this.driver.create({ id: nextId('w'), memoryMib: 512, vcpus: 1 }));
  }
  async branch(source: BWorld | BSnap, count: number): Promise<BWorld[]> {
    const h = source instanceof DriverWorld ? source.h : (source as DriverSnap).h;
    const ids = Array.from({ length: count }, () => nextId('w'));
    const hs = await this.driver.branch(h, { ids, memoryMib: 512, sameRandom: false });
    return hs.map((x) => new DriverWorld(this.driver, x));
  }
  close(): Promise<void> {
    return this.driver.close();
  }
}

export type RigKind = 'pool' | 'nopool';

/** Latencies of a loop, and how many spares the pool held before each iteration. */
export interface Loop {
  ms: number[];
  depth: number[];
}

/** How many spares the driver holds ready now: started worlds for `create`, or one snapshot's branches. */
export function spareDepth(rig: Rig, snap?: BSnap): number {
  if (!snap) return rig.driver.poolState().readyWorlds;
  const h = snap instanceof DriverSnap ? snap.h : snap instanceof Snapshot ? snap.handle : undefined;
  return h ? rig.driver.poolState(h).readyBranches : 0;
}

export function poolNote(what: string, depth: number[]): string {
  if (depth.length === 0) return `${what}: none sampled`;
  const empty = depth.filter((x) => x === 0).length;
  return `${what} before each: ${Math.min(...depth)}–${Math.max(...depth)}${empty ? ` (none ${empty} of ${depth.length} times: those were cold)` : ' (never empty)'}`;
}

export async function ok(p: Promise<ExecResult>): Promise<ExecResult> {
  const r = await p;
  if (r.error) throw new Error(`exec failed in a bench world: ${r.error.type}: ${r.error.message}`);
  return r;
}

export async function isolationOf(rig: Rig): Promise<string> {
  const rep = await rig.driver.doctor();
  return String(rep.isolation ?? 'unknown');
}
