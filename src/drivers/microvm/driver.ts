/**
 * @module
 * `MicrovmDriver`: worlds as QEMU microvm virtual machines, branched from RAM-file snapshots.
 *
 * - create = a spare world (a template clone already restored, pools.ts) handed over, else a restore of the
 *   template snapshot (one per memory size × vcpus, booted once by setupMicrovm);
 * - snapshot = stop, save device state (x-ignore-shared: RAM stays out of the stream), copy the RAM file,
 *   continue: the world keeps running;
 * - branch = N restores of a snapshot in parallel (fleet.ts): each copies the RAM file (only the pages in use)
 *   into a spare VM, loads the device state, runs; the agent then sets the clock and reseeds;
 * - the guest's own files live on a tmpfs in guest RAM, so the RAM file is also the world's disk: branches
 *   are independent in memory and files.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import {
  CapacityError,
  DriverError,
  InvalidArgumentError,
  RuntimeClosedError,
  SnapshotNotFoundError,
  WorldFailedError,
  WorldNotFoundError,
} from '../../base/errors.js';
import type { ExecOptions, ExecResult, RunOptions, RunResult } from '../../base/types.js';
import { decodeExecResult, decodeRunResult, outputEvents, readWorldFile, writeWorldFile } from '../agent-protocol.js';
import {
  DEFAULT_TIMEOUT_MS,
  type Driver,
  type DriverBranchOptions,
  type DriverCreateOptions,
  type DriverReport,
  type SnapshotHandle,
  type WorldExitListener,
  type WorldHandle,
} from '../driver.js';
import type { AccelMode } from './assets.js';
import { type Ctx, debug, Fleet, type Image } from './fleet.js';
import { doctorReport, mib } from './report.js';
import { allocatedBytes } from './util.js';
import type { Vm } from './vm.js';
import { MicroWorld, type WorldHost } from './world.js';

export interface MicrovmDriverOptions {
  /** State directory: assets are cached in `<home>/microvm/`. */
  home: string;
  onProgress?: (msg: string) => void;
  /** @default 'auto' */
  accel?: AccelMode;
  /** Most bytes all snapshots of this driver may hold on tmpfs (RAM files + device state). @default min(8 GiB, ½ of free tmpfs) */
  snapshotBudgetBytes?: number;
  /** Extra time a guest gets after an exec/run timeout to interrupt the code itself before it is declared hung. @default 5000 */
  hangGraceMs?: number;
  /** Spare worlds kept per (memory, vcpus) shape in use: template clones restored and answering, so `create` is a hand-over; 0 turns them off. @default 1 */
  spareWorlds?: number;
  /** Spare VMs kept per shape in use: QEMUs started and waiting for a snapshot, so a restore skips QEMU's start-up; raised to the largest recent branch (at most 8); 0 turns them off. @default 2 */
  spareVms?: number;
}

/** The defaults of the options above (`WorldRuntime.open` passes its `microvm` option on unchanged). */
export const MICROVM_DEFAULTS = { accel: 'auto', hangGraceMs: 5000, spareWorlds: 1, spareVms: 2 } as const;

interface SnapRec extends Image {
  id: string;
  sizeBytes: number;
}

/** The handles this driver gives out: a branch of one that is gone can then say whether a world or a snapshot is missing. */
class WorldRef implements WorldHandle {
  constructor(readonly id: string) {}
}

class SnapshotRef implements SnapshotHandle {
  constructor(
    readonly id: string,
    readonly sizeBytes: number,
  ) {}
}

/** How long a guest may take to answer one chunk of a write_file, and a whole read_file (up to 1 GiB). */
const FILE_REQUEST_MS = 60_000;
const READ_FILE_MS = 300_000;

export class MicrovmDriver implements Driver {
  readonly name = 'microvm';
  private readonly opts: MicrovmDriverOptions;
  private readonly fleet: Fleet;
  private readonly worlds = new Map<string, MicroWorld>();
  private readonly owners = new Map<Vm, MicroWorld>();
  /** Ids of worlds being made: taken, but not yet in `worlds`. */
  private readonly pendingIds = new Set<string>();
  private readonly snaps = new Map<string, SnapRec>();
  private readonly listeners = new Set<WorldExitListener>();
  private snapshotBytes = 0;
  private budget = 0;
  private isClosed = false;
  /** What each world may ask of this driver. */
  private readonly host: WorldHost;
  /** Timings of the last operations (ms), for the bench. */
  readonly timings: Record<string, number> = {};

  constructor(opts: MicrovmDriverOptions) {
    if (!opts || typeof opts.home !== 'string' || !opts.home) throw new InvalidArgumentError('MicrovmDriver: `home` (state directory) is required');
    this.opts = opts;
    this.fleet = new Fleet(
      {
        home: opts.home,
        accel: opts.accel,
        progress: (m) => opts.onProgress?.(m),
        spareWorlds: opts.spareWorlds ?? MICROVM_DEFAULTS.spareWorlds,
        spareVms: opts.spareVms ?? MICROVM_DEFAULTS.spareVms,
      },
      (vm, reason, filesGone) => this.onVmExit(vm, reason, filesGone),
    );
    const driver = this;
    this.host = {
      get closed() {
        return driver.isClosed;
      },
      fail: (w, reason) => this.fail(w, reason),
    };
  }

  /** Milestones of the last restore (ms since it began): VM taken, RAM copied, running, agent answered. */
  get lastClone(): Record<string, number> {
    return this.fleet.lastClone;
  }

  private async setup(): Promise<Ctx> {
    const ctx = await this.fleet.setup();
    this.budget ||= this.opts.snapshotBudgetBytes ?? Math.min(8 * 2 ** 30, Math.floor(ctx.freeBytes / 2));
    return ctx;
  }

  // ---------------------------------------------------------------- worlds

  async create(opts: DriverCreateOptions): Promise<WorldHandle> {
    if (this.isClosed) throw new RuntimeClosedError();
    const shape = { memoryMib: opts.memoryMib ?? 512, vcpus: opts.vcpus ?? 1 };
    if (!Number.isInteger(shape.memoryMib) || shape.memoryMib < 128 || shape.memoryMib > 65536) {
      throw new InvalidArgumentError(`memoryMib must be an integer from 128 to 65536 for a microvm world, got ${shape.memoryMib}`);
    }
    if (!Number.isInteger(shape.vcpus) || shape.vcpus < 1 || shape.vcpus > 64)
      throw new InvalidArgumentError(`vcpus must be an integer from 1 to 64, got ${shape.vcpus}`);
    const ctx = await this.setup();
    const t0 = performance.now();
    const template = await this.fleet.template(ctx, shape);
    const w = await this.make(
      opts.id,
      shape,
      async () => (await this.fleet.takeSpareWorld(shape, opts.id)) ?? this.fleet.restore(ctx, template, opts.id, false),
    );
    this.fleet.refillSpareWorlds(ctx, template);
    this.timings.create = performance.now() - t0;
    return new WorldRef(w.id);
  }

  /** Make a world under a fresh id with `start`, which resolves with its VM answering. */
  private async make(id: string, shape: { memoryMib: number; vcpus: number }, start: () => Promise<Vm>): Promise<MicroWorld> {
    if (this.worlds.has(id) || this.pendingIds.has(id)) throw new InvalidArgumentError(`a world with id "${id}" already exists`);
    this.pendingIds.add(id);
    try {
      const vm = await start();
      const w = new MicroWorld(id, vm, shape.memoryMib, shape.vcpus, this.host);
      this.worlds.set(id, w);
      this.owners.set(vm, w);
      return w;
    } finally {
      this.pendingIds.delete(id);
    }
  }

  private live(world: WorldHandle, operation: string): MicroWorld {
    if (this.isClosed) throw new RuntimeClosedError();
    const w = this.worlds.get(world?.id);
    if (!w) throw new WorldNotFoundError(String(world?.id));
    w.check(operation);
    return w;
  }

  private grace(): number {
    return this.opts.hangGraceMs ?? MICROVM_DEFAULTS.hangGraceMs;
  }

  async exec(world: WorldHandle, code: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const w = this.live(world, 'exec');
    if (typeof code !== 'string') throw new InvalidArgumentError('exec: code must be a string');
    // The guest interrupts the code itself at timeoutMs; past the grace it is hung.
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const onEvent = outputEvents(opts.onOutput);
    const args = { code, timeoutMs, stream: onEvent !== undefined };
    return w.serial(async () => decodeExecResult(await w.ask('exec', args, timeoutMs + this.grace(), onEvent), w.id));
  }

  async run(world: WorldHandle, command: string | string[], opts: RunOptions = {}): Promise<RunResult> {
    const w = this.live(world, 'run');
    if (typeof command !== 'string' && !(Array.isArray(command) && command.length > 0 && command.every((c) => typeof c === 'string'))) {
      throw new InvalidArgumentError('run: command must be a string or a non-empty array of strings');
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const onEvent = outputEvents(opts.onOutput);
    const args = { argv: command, cwd: opts.cwd, env: opts.env, timeoutMs, stream: onEvent !== undefined };
    return w.serial(async () => decodeRunResult(await w.ask('run', args, timeoutMs + this.grace(), onEvent), w.id));
  }

  async writeFile(world: WorldHandle, filePath: string, data: Uint8Array): Promise<void> {
    const w = this.live(world, 'writeFile');
    if (typeof filePath !== 'string' || !filePath) throw new InvalidArgumentError('writeFile: path must be a non-empty string');
    // Each chunk (192 KiB) gets the host's patience for one request: a guest that stops answering is hung.
    await w.serial(() => writeWorldFile((op, args) => w.ask(op, args, FILE_REQUEST_MS), filePath, data));
  }

  async readFile(world: WorldHandle, filePath: string): Promise<Uint8Array> {
    const w = this.live(world, 'readFile');
    if (typeof filePath !== 'string' || !filePath) throw new InvalidArgumentError('readFile: path must be a non-empty string');
    return w.serial(() => readWorldFile((op, args, onEvent, budget) => w.ask(op, args, READ_FILE_MS, onEvent, budget), filePath, w.id));
  }

  // ---------------------------------------------------------------- snapshots

  async snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle> {
    const w = this.live(world, 'snapshot');
    if (this.snaps.has(id)) throw new InvalidArgumentError(`a snapshot with id "${id}" already exists`);
    const ctx = await this.setup();
    return w.serial(async () => {
      const t0 = performance.now();
      const estimate = (await allocatedBytes(w.vm.config.ramPath)) + 256 * 1024;
      if (this.snapshotBytes + estimate > this.budget) {
        throw new CapacityError(
          `snapshot ${id} would need ≈${mib(estimate)} MiB; snapshots already hold ${mib(this.snapshotBytes)} of ${mib(this.budget)} MiB (destroy some, or raise snapshotBudgetBytes)`,
        );
      }
      const name = this.fleet.nextName('s');
      const snap: SnapRec = { id, ram: ctx.run.file(`${name}.ram`), state: Buffer.alloc(0), memoryMib: w.memoryMib, vcpus: w.vcpus, sizeBytes: estimate };
      this.snaps.set(id, snap);
      this.snapshotBytes += estimate;
      try {
        snap.state = await w.vm.save(snap.ram);
      } catch (e) {
        this.snaps.delete(id);
        this.snapshotBytes -= estimate;
        await fs.rm(snap.ram, { force: true });
        if (!w.vm.alive) throw new WorldFailedError(w.id, (await w.vm.waitExit()).reason);
        throw new DriverError(`snapshot of world ${w.id} failed: ${(e as Error).message}`, e);
      }
      const size = (await allocatedBytes(snap.ram)) + snap.state.length;
      this.snapshotBytes += size - estimate;
      snap.sizeBytes = size;
      this.timings.snapshot = performance.now() - t0;
      return new SnapshotRef(id, size);
    });
  }

  async branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]> {
    if (this.isClosed) throw new RuntimeClosedError();
    if (!opts || !Array.isArray(opts.ids) || opts.ids.length === 0) throw new InvalidArgumentError('branch: ids must be a non-empty array');
    if (new Set(opts.ids).size !== opts.ids.length) throw new InvalidArgumentError('branch: ids must be distinct');
    for (const id of opts.ids) if (this.worlds.has(id)) throw new InvalidArgumentError(`a world with id "${id}" already exists`);
    const ctx = await this.setup();
    const t0 = performance.now();
    let snap = this.snaps.get(source?.id);
    let temporary = false;
    if (!snap) {
      if (!this.worlds.has(source?.id)) {
        // A handle this driver made says which kind it was; any other unknown source is taken for a snapshot.
        throw source instanceof WorldRef ? new WorldNotFoundError(source.id) : new SnapshotNotFoundError(String(source?.id));
      }
      // From a running world: a snapshot of it now, gone once the branches are restored.
      snap = this.snaps.get((await this.snapshot(source, `branch-src-${randomBytes(6).toString('hex')}`)).id) as SnapRec;
      temporary = true;
    }
    const from = snap;
    this.fleet.want(from, opts.ids.length);
    try {
      const settled = await Promise.allSettled(opts.ids.map((id) => this.make(id, from, () => this.fleet.restore(ctx, from, id, opts.sameRandom === true))));
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) {
        // All or nothing: a partial branch would leave worlds the caller never hears of.
        await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? this.destroyWorld(s.value) : undefined)));
        throw failed.reason;
      }
      this.timings.branch = performance.now() - t0;
      return settled.map((s) => new WorldRef((s as PromiseFulfilledResult<MicroWorld>).value.id));
    } finally {
      if (temporary) await this.destroySnapshot(from);
    }
  }

  /** Resolves for a world already destroyed or never known (the contract: destroy is idempotent). */
  async destroyWorld(world: WorldHandle): Promise<void> {
    const w = this.worlds.get(world?.id);
    if (!w) return;
    if (w.state !== 'failed') w.state = 'destroyed';
    await w.vm.kill();
    await this.fleet.removeFiles(w.vm);
    this.worlds.delete(w.id);
  }

  async destroySnapshot(snapshot: SnapshotHandle): Promise<void> {
    const snap = this.snaps.get(snapshot?.id);
    if (!snap) return;
    this.snaps.delete(snap.id);
    this.snapshotBytes -= snap.sizeBytes;
    await fs.rm(snap.ram, { force: true });
  }

  /** The QEMU process id of a world (diagnostics and fault tests). */
  processId(world: WorldHandle): number | undefined {
    const w = this.worlds.get(world?.id);
    return w?.vm.alive ? w.vm.pid : undefined;
  }

  /** This driver's run directory on tmpfs (RAM files, sockets, pid files), once it has started. */
  async runDirectory(): Promise<string | undefined> {
    const ctx = await this.fleet.settled();
    return ctx && !(ctx instanceof Error) ? ctx.run.path : undefined;
  }

  /** Pids of every QEMU this driver has running (worlds, spares). */
  processIds(): number[] {
    return [...this.fleet.vms].filter((v) => v.alive && v.pid).map((v) => v.pid);
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listeners.add(listener);
  }

  /** Any VM's end: a world that was running and not destroyed on purpose has failed. */
  private onVmExit(vm: Vm, reason: string, filesGone: Promise<void>): void {
    const w = this.owners.get(vm);
    this.owners.delete(vm);
    if (!w || vm.expectingExit || w.state !== 'running') return;
    w.state = 'failed';
    w.failure = reason;
    void filesGone.then(() => this.emitExit(w.id, reason));
  }

  private emitExit(id: string, reason: string): void {
    for (const l of this.listeners) {
      try {
        l(id, reason);
      } catch {
        /* a listener's error is its own */
      }
    }
  }

  /** Declare a world failed (a hung guest, a flood): kill its VM, tell the listeners. */
  private async fail(w: MicroWorld, reason: string): Promise<void> {
    if (w.state === 'failed' || w.state === 'destroyed') return;
    w.state = 'failed';
    w.failure = reason;
    await w.vm.kill();
    this.emitExit(w.id, reason);
  }

  // ---------------------------------------------------------------- report, close

  async doctor(): Promise<DriverReport> {
    if (this.isClosed) throw new RuntimeClosedError();
    return doctorReport({
      home: this.opts.home,
      accel: this.opts.accel ?? MICROVM_DEFAULTS.accel,
      ctx: await this.fleet.settled(),
      pools: { spareWorlds: this.opts.spareWorlds ?? MICROVM_DEFAULTS.spareWorlds, spareVms: this.opts.spareVms ?? MICROVM_DEFAULTS.spareVms },
      spares: this.fleet.spares(),
      hangGraceMs: this.grace(),
      snapshots: { count: this.snaps.size, bytes: this.snapshotBytes, budgetBytes: this.budget },
      runningWorlds: [...this.worlds.values()].filter((w) => w.state === 'running').length,
    });
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const w of this.worlds.values()) if (w.state !== 'failed') w.state = 'destroyed';
    await this.fleet.close();
    this.worlds.clear();
    this.owners.clear();
    this.snaps.clear();
    this.snapshotBytes = 0;
    debug('close: done');
  }
}
