/**
 * @module
 * `MicrovmDriver`: worlds as QEMU microvm virtual machines, branched from RAM-file snapshots.
 *
 * - create = clone of a template snapshot (one per memory size × vcpus, booted once by setupMicrovm);
 * - snapshot = stop, save device state (x-ignore-shared: RAM stays out of the stream), copy the RAM file,
 *   continue: the world keeps running;
 * - branch = N clones of a snapshot in parallel: each copies the RAM file (only the pages in use), starts
 *   QEMU with `-incoming defer`, loads the device state, runs; the agent then sets the clock and reseeds;
 * - the guest's own files live on a tmpfs in guest RAM, so the RAM file is also the world's disk: branches
 *   are independent in memory and files.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CapacityError,
  DriverError,
  InvalidArgumentError,
  RuntimeClosedError,
  SnapshotNotFoundError,
  TimeoutError,
  WorldFailedError,
  WorldNotFoundError,
  WorldRuntimeError,
  WrongStateError,
} from '../../base/errors.js';
import type { ExecOptions, ExecResult, RunOptions, RunResult } from '../../base/types.js';
import { agentError, decodeExecResult, decodeRunResult, outputEvents, readWorldFile, writeWorldFile } from '../agent-protocol.js';
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
import { kvmAccess } from './accel.js';
import { type AccelMode, ensureTemplate, findQemu, type MicrovmAssets, ramDir, setupMicrovm } from './assets.js';
import { Copier } from './copier.js';
import { AgentFloodError, AgentReplyError } from './qmp.js';
import { RunDir } from './rundir.js';
import { allocatedBytes, which } from './util.js';
import { Vm } from './vm.js';
import { env } from '../../base/config.js';

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
  /** QEMUs kept started and waiting per (memory, vcpus) shape in use, so clones skip QEMU's start-up; 0 disables. @default 2 */
  spares?: number;
  /** Template clones kept restored and answering per shape in use, so `create` is a hand-over; 0 disables. @default 1 */
  prestarted?: number;
}

/** What a world or snapshot can be restored from. */
interface Image {
  ram: string;
  /** Device state (QEMU's migration stream without RAM), ≈60 KB. */
  state: Buffer;
  memoryMib: number;
  vcpus: number;
}

interface WorldRec {
  id: string;
  name: string;
  vm: Vm;
  memoryMib: number;
  vcpus: number;
  state: 'starting' | 'running' | 'failed' | 'destroyed';
  failure?: string;
  queue: Promise<unknown>;
}

interface SnapRec extends Image {
  id: string;
  name: string;
  sizeBytes: number;
}

interface Ctx {
  assets: MicrovmAssets;
  run: RunDir;
  copier: Copier;
  /** Templates copied into the run dir (tmpfs), by "mem:vcpus". */
  templates: Map<string, Promise<Image>>;
}

/** How long a guest may take to answer one chunk of a write_file, and a whole read_file (up to 1 GiB). */
const FILE_REQUEST_MS = 60_000;
const READ_FILE_MS = 300_000;
const DEBUG = env('WORLD_RUNTIME_MICROVM_DEBUG') !== undefined;

function isSnapshotHandle(x: SnapshotHandle | WorldHandle, snaps: Map<string, SnapRec>): boolean {
  return snaps.has(x.id);
}

export class MicrovmDriver implements Driver {
  readonly name = 'microvm';
  private readonly opts: MicrovmDriverOptions;
  private ctx: Promise<Ctx> | null = null;
  private readonly worlds = new Map<string, WorldRec>();
  private readonly snaps = new Map<string, SnapRec>();
  private readonly listeners = new Set<WorldExitListener>();
  private closed = false;
  private seq = 0;
  private snapshotBytes = 0;
  /** Every QEMU this driver started and that has not exited yet (worlds, spares, VMs being restored). */
  private readonly vms = new Set<Vm>();
  /** Started QEMUs waiting for a snapshot, by shape "memoryMib:vcpus". */
  private readonly pool = new Map<string, Vm[]>();
  private readonly filling = new Set<string>();
  /** Spares wanted per shape (raised by large branches). */
  private readonly wanted = new Map<string, number>();
  private readonly owners = new Map<Vm, WorldRec>();
  private readonly pendingIds = new Set<string>();
  /** Template clones restored ahead of `create`, by shape. */
  private readonly ready = new Map<string, Vm[]>();
  private readonly prefilling = new Set<string>();
  private budget = 0;
  /** Timings of the last operations (ms), for doctor and the bench. */
  readonly timings: Record<string, number> = {};
  /** Milestones of the last clone (ms since it began): vm taken, RAM copied, running, agent answered. */
  lastClone: Record<string, number> = {};

  constructor(opts: MicrovmDriverOptions) {
    if (!opts || typeof opts.home !== 'string' || !opts.home) throw new InvalidArgumentError('MicrovmDriver: `home` (state directory) is required');
    this.opts = opts;
  }

  // ---------------------------------------------------------------- setup

  private progress(msg: string): void {
    this.opts.onProgress?.(msg);
  }

  /** Step-by-step trace on stderr when WORLD_RUNTIME_MICROVM_DEBUG is set. */
  private debug(msg: string): void {
    if (DEBUG) process.stderr.write(`[microvm ${process.pid} ${(performance.now() / 1000).toFixed(3)}] ${msg}\n`);
  }

  private ensure(): Promise<Ctx> {
    if (this.closed) return Promise.reject(new RuntimeClosedError());
    if (!this.ctx) {
      this.ctx = (async () => {
        this.debug('setup: checking assets');
        const assets = await setupMicrovm({ home: this.opts.home, onProgress: (m) => this.progress(m), accel: this.opts.accel });
        this.debug('setup: assets ready; making the run directory');
        const run = await RunDir.create();
        this.debug(`setup: run directory ${run.path}`);
        const copier = new Copier();
        const shm = await fs.statfs(run.path).catch(() => null);
        const free = shm ? shm.bavail * shm.bsize : 8 * 2 ** 30;
        this.budget = this.opts.snapshotBudgetBytes ?? Math.min(8 * 2 ** 30, Math.floor(free / 2));
        const ctx: Ctx = { assets, run, copier, templates: new Map() };
        if (this.closed) {
          await run.close();
          await copier.close();
          throw new RuntimeClosedError();
        }
        return ctx;
      })();
      this.ctx.catch(() => {
        this.ctx = null; // let a later call retry (e.g. after apt-get update)
      });
    }
    return this.ctx;
  }

  private template(ctx: Ctx, memoryMib: number, vcpus: number): Promise<Image> {
    const k = `${memoryMib}:${vcpus}`;
    let t = ctx.templates.get(k);
    if (!t) {
      t = (async () => {
        this.debug(`template ${memoryMib}x${vcpus}: ensuring`);
        const tpl = await ensureTemplate(ctx.assets, ctx.assets.accel.accel, memoryMib, vcpus, (m) => this.progress(m));
        this.debug(`template ${memoryMib}x${vcpus}: copying into the run directory`);
        const ram = ctx.run.file(`t${memoryMib}x${vcpus}.ram`);
        this.fill(ctx, memoryMib, vcpus);
        await ctx.copier.copy(tpl.ram, ram);
        return { ram, state: await fs.readFile(tpl.state), memoryMib, vcpus };
      })();
      t.catch(() => ctx.templates.delete(k));
      ctx.templates.set(k, t);
    }
    return t;
  }

  // ---------------------------------------------------------------- worlds

  private nextName(prefix: string): string {
    return `${prefix}${++this.seq}`;
  }

  private shapeKey(memoryMib: number, vcpus: number): string {
    return `${memoryMib}:${vcpus}`;
  }

  /** A new QEMU waiting for a snapshot (`-incoming defer`), its RAM file still empty. Not yet started. */
  private makeVm(ctx: Ctx, memoryMib: number, vcpus: number): Vm {
    const name = this.nextName('v');
    const vm = new Vm({
      name,
      qemu: ctx.assets.qemu,
      setpriv: ctx.assets.setpriv,
      accel: ctx.assets.accel.accel,
      memoryMib,
      vcpus,
      kernel: ctx.assets.kernel.vmlinuz,
      initrd: ctx.assets.initramfs.file,
      sysImage: ctx.assets.sysImage.file,
      cmdline: ctx.assets.cmdline,
      ramPath: ctx.run.file(`${name}.ram`),
      agentSock: ctx.run.file(`${name}.sock`),
      consolePath: ctx.run.file(`${name}.console`),
      pidPath: ctx.run.file(`${name}.pid`),
      restorable: true,
      copy: (s, d) => ctx.copier.copy(s, d),
    });
    this.vms.add(vm);
    vm.on('exit', (e: { reason: string }) => void this.onVmExit(vm, e.reason));
    return vm;
  }

  private target(key: string): number {
    const base = this.opts.spares ?? 2;
    if (base <= 0) return 0;
    return Math.min(8, Math.max(base, this.wanted.get(key) ?? 0));
  }

  /**
   * Keep `target` QEMUs per shape started and waiting for a snapshot, so a clone skips QEMU's start-up
   * (≈70–150 ms under TCG). Refilled one at a time in the background.
   */
  private fill(ctx: Ctx, memoryMib: number, vcpus: number): void {
    const key = this.shapeKey(memoryMib, vcpus);
    if (this.closed || this.filling.has(key)) return;
    const pool = this.pool.get(key) ?? [];
    this.pool.set(key, pool);
    if (pool.length >= this.target(key)) return;
    this.filling.add(key);
    void (async () => {
      try {
        while (!this.closed && pool.length < this.target(key)) {
          const vm = this.makeVm(ctx, memoryMib, vcpus);
          this.debug(`spare ${vm.config.name}: starting`);
          try {
            await vm.start();
            this.debug(`spare ${vm.config.name}: ready (pid ${vm.pid})`);
          } catch (e) {
            await vm.kill();
            if (!this.closed) this.progress(`spare VM failed to start: ${(e as Error).message}`);
            break;
          }
          if (this.closed) {
            await vm.kill();
            break;
          }
          vm.setRef(false);
          pool.push(vm);
        }
      } finally {
        this.filling.delete(key);
      }
    })();
  }

  /** A started QEMU waiting for a snapshot: a spare if one is ready, else a new one. */
  private async takeVm(ctx: Ctx, memoryMib: number, vcpus: number): Promise<Vm> {
    const pool = this.pool.get(this.shapeKey(memoryMib, vcpus));
    while (pool?.length) {
      const vm = pool.shift() as Vm;
      vm.setRef(true);
      if (vm.alive) return vm;
    }
    const vm = this.makeVm(ctx, memoryMib, vcpus);
    try {
      await vm.start();
    } catch (e) {
      await vm.kill();
      throw e;
    }
    return vm;
  }

  /** Set the guest clock to now and, unless `sameRandom`, reseed its randomness (after every restore). */
  private async refresh(vm: Vm, label: string, sameRandom: boolean): Promise<void> {
    const reply = vm.agent.request('restore', {
      timeNs: (BigInt(Date.now()) * 1_000_000n).toString(),
      seed: sameRandom ? null : randomBytes(32).toString('hex'),
    }).reply;
    await this.withDeadline(reply, 60_000, () => new TimeoutError(`world ${label} did not answer within 60 s of its restore`));
  }

  /**
   * Bring a snapshot to life in a QEMU: take a waiting one, copy the RAM into it, load the device state,
   * run, refresh clock and randomness. Resolves once the guest answered; kills the VM on failure.
   */
  private async restoreVm(ctx: Ctx, image: Image, label: string, sameRandom: boolean): Promise<Vm> {
    let vm: Vm | null = null;
    const t0 = performance.now();
    const lap: Record<string, number> = {};
    try {
      this.debug(`clone ${label}: taking a VM`);
      vm = await this.takeVm(ctx, image.memoryMib, image.vcpus);
      lap.vm = performance.now() - t0;
      this.debug(`clone ${label}: VM ${vm.config.name} (pid ${vm.pid}); copying RAM`);
      if (this.closed) throw new RuntimeClosedError();
      await ctx.copier.copy(image.ram, vm.config.ramPath, true);
      lap.copy = performance.now() - t0;
      await vm.restore(image.state);
      lap.running = performance.now() - t0;
      this.debug(`clone ${label}: running; asking the agent`);
      await this.refresh(vm, label, sameRandom);
      lap.answered = performance.now() - t0;
      this.debug(`clone ${label}: answered ${JSON.stringify(lap)}`);
      this.lastClone = lap;
      if (!vm.alive) throw new WorldFailedError(label, (await vm.waitExit()).reason);
      if (this.closed) throw new RuntimeClosedError();
      return vm;
    } catch (e) {
      if (vm) await vm.kill();
      if (WorldRuntimeError.is(e)) throw e;
      throw new DriverError(`cannot start world ${label}: ${(e as Error).message}`, e);
    } finally {
      this.fill(ctx, image.memoryMib, image.vcpus);
    }
  }

  private adopt(vm: Vm, id: string, memoryMib: number, vcpus: number): WorldRec {
    const rec: WorldRec = { id, name: vm.config.name, vm, memoryMib, vcpus, state: 'running', queue: Promise.resolve() };
    this.worlds.set(id, rec);
    this.owners.set(vm, rec);
    return rec;
  }

  /** Start a world from an image (a template or a snapshot). */
  private async clone(ctx: Ctx, image: Image, id: string, sameRandom: boolean): Promise<WorldRec> {
    if (this.worlds.has(id) || this.pendingIds.has(id)) throw new InvalidArgumentError(`a world with id "${id}" already exists`);
    this.pendingIds.add(id);
    try {
      const vm = await this.restoreVm(ctx, image, id, sameRandom);
      return this.adopt(vm, id, image.memoryMib, image.vcpus);
    } finally {
      this.pendingIds.delete(id);
    }
  }

  /**
   * Keep `prestarted` template clones per shape already restored and answering, so `create` only has to
   * refresh clock and randomness (≈5 ms) instead of restoring (≈150 ms under TCG).
   */
  private prefill(ctx: Ctx, image: Image): void {
    const key = this.shapeKey(image.memoryMib, image.vcpus);
    const want = this.opts.prestarted ?? 1;
    if (this.closed || want <= 0 || this.prefilling.has(key)) return;
    const pool = this.ready.get(key) ?? [];
    this.ready.set(key, pool);
    if (pool.length >= want) return;
    this.prefilling.add(key);
    void (async () => {
      try {
        while (!this.closed && pool.length < want) {
          const vm = await this.restoreVm(ctx, image, `prestart-${key}`, false);
          if (this.closed) {
            await vm.kill();
            break;
          }
          vm.setRef(false);
          pool.push(vm);
        }
      } catch (e) {
        if (!this.closed) this.progress(`prestarting a world failed: ${(e as Error).message}`);
      } finally {
        this.prefilling.delete(key);
      }
    })();
  }

  private withDeadline<T>(p: Promise<T>, ms: number, err: () => Error): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(err()), ms);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private async removeFiles(vm: Vm): Promise<void> {
    const c = vm.config;
    await Promise.all([c.ramPath, c.agentSock, c.consolePath, c.pidPath].map((f) => fs.rm(f, { force: true })));
  }

  /** Any VM's end: its files go; a world that was running and not destroyed on purpose has failed. */
  private async onVmExit(vm: Vm, reason: string): Promise<void> {
    this.vms.delete(vm);
    for (const pool of [...this.pool.values(), ...this.ready.values()]) {
      const i = pool.indexOf(vm);
      if (i >= 0) pool.splice(i, 1);
    }
    const rec = this.owners.get(vm);
    this.owners.delete(vm);
    const failed = rec && !vm.expectingExit && rec.state === 'running';
    if (rec && failed) {
      rec.state = 'failed';
      rec.failure = reason;
    }
    await this.removeFiles(vm);
    if (rec && failed) this.emitExit(rec.id, reason);
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

  /** Declare a world failed (hung guest): kill its VM, tell the listeners. */
  private async fail(rec: WorldRec, reason: string): Promise<void> {
    if (rec.state === 'failed' || rec.state === 'destroyed') return;
    rec.state = 'failed';
    rec.failure = reason;
    await rec.vm.kill();
    this.emitExit(rec.id, reason);
  }

  private live(world: WorldHandle, operation: string): WorldRec {
    if (this.closed) throw new RuntimeClosedError();
    const rec = this.worlds.get(world?.id);
    if (!rec) throw new WorldNotFoundError(String(world?.id));
    if (rec.state === 'failed') throw new WorldFailedError(rec.id, rec.failure ?? 'unknown');
    if (rec.state !== 'running') throw new WrongStateError('world', rec.id, operation, rec.state, ['running']);
    return rec;
  }

  /** Run operations on one world one at a time (the agent serves one request at a time). */
  private serial<T>(rec: WorldRec, fn: () => Promise<T>): Promise<T> {
    const p = rec.queue.then(() => {
      if (this.closed) throw new RuntimeClosedError();
      if (rec.state === 'failed') throw new WorldFailedError(rec.id, rec.failure ?? 'unknown');
      if (rec.state !== 'running') throw new WrongStateError('world', rec.id, 'use', rec.state, ['running']);
      return fn();
    });
    rec.queue = p.catch(() => {});
    return p;
  }

  /**
   * Send a request and wait for its reply; if none comes within `hostTimeoutMs`, the guest is hung: the
   * world is killed and marked failed.
   */
  private async ask(
    rec: WorldRec,
    op: string,
    args: Record<string, unknown>,
    hostTimeoutMs: number | null,
    onEvent?: (event: string, data: string) => void,
    budget?: number,
  ): Promise<unknown> {
    const { id, reply } = rec.vm.agent.request(op, args, onEvent, budget);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        reply,
        new Promise<never>((_, reject) => {
          if (hostTimeoutMs !== null) {
            timer = setTimeout(() => {
              const reason = `guest hung: no answer to ${op} within ${hostTimeoutMs} ms`;
              rec.vm.agent.forget(id, new WorldFailedError(rec.id, reason));
              void this.fail(rec, reason);
              reject(new WorldFailedError(rec.id, reason));
            }, hostTimeoutMs);
          }
        }),
      ]);
    } catch (e) {
      if (e instanceof AgentReplyError) throw agentError(e.code, e.agentMessage);
      if (e instanceof AgentFloodError) {
        void this.fail(rec, e.message);
        throw new WorldFailedError(rec.id, e.message);
      }
      if (WorldRuntimeError.is(e) && e.code === 'WORLD_FAILED') throw e;
      if (this.closed) throw new RuntimeClosedError();
      // The agent connection broke: QEMU is most likely exiting (panic, crash, kill). Wait for its exit to
      // be recorded and report the world as failed.
      const info = await Promise.race([rec.vm.waitExit(), new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
      if (info || rec.state === 'failed') throw new WorldFailedError(rec.id, rec.failure ?? info?.reason ?? 'unknown');
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private grace(): number {
    return this.opts.hangGraceMs ?? 5000;
  }

  async create(opts: DriverCreateOptions): Promise<WorldHandle> {
    if (this.closed) throw new RuntimeClosedError();
    const memoryMib = opts.memoryMib ?? 512;
    const vcpus = opts.vcpus ?? 1;
    if (!Number.isInteger(memoryMib) || memoryMib < 128 || memoryMib > 65536) {
      throw new InvalidArgumentError(`memoryMib must be an integer from 128 to 65536 for a microvm world, got ${memoryMib}`);
    }
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > 64) throw new InvalidArgumentError(`vcpus must be an integer from 1 to 64, got ${vcpus}`);
    const ctx = await this.ensure();
    const t0 = performance.now();
    const image = await this.template(ctx, memoryMib, vcpus);
    if (this.worlds.has(opts.id) || this.pendingIds.has(opts.id)) throw new InvalidArgumentError(`a world with id "${opts.id}" already exists`);
    const pool = this.ready.get(this.shapeKey(memoryMib, vcpus));
    let rec: WorldRec | null = null;
    while (pool?.length && !rec) {
      const vm = pool.shift() as Vm;
      vm.setRef(true);
      if (!vm.alive) continue;
      this.pendingIds.add(opts.id);
      try {
        await this.refresh(vm, opts.id, false);
        if (vm.alive) rec = this.adopt(vm, opts.id, memoryMib, vcpus);
      } catch {
        await vm.kill();
      } finally {
        this.pendingIds.delete(opts.id);
      }
    }
    rec ??= await this.clone(ctx, image, opts.id, false);
    this.prefill(ctx, image);
    this.timings.create = performance.now() - t0;
    return { id: rec.id };
  }

  async exec(world: WorldHandle, code: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const rec = this.live(world, 'exec');
    if (typeof code !== 'string') throw new InvalidArgumentError('exec: code must be a string');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const onEvent = outputEvents(opts.onOutput);
    return this.serial(rec, async () =>
      decodeExecResult(await this.ask(rec, 'exec', { code, timeoutMs, stream: onEvent !== undefined }, timeoutMs + this.grace(), onEvent), rec.id),
    );
  }

  async run(world: WorldHandle, command: string | string[], opts: RunOptions = {}): Promise<RunResult> {
    const rec = this.live(world, 'run');
    if (typeof command !== 'string' && !(Array.isArray(command) && command.length > 0 && command.every((c) => typeof c === 'string'))) {
      throw new InvalidArgumentError('run: command must be a string or a non-empty array of strings');
    }
    const onEvent = outputEvents(opts.onOutput);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const args = { argv: command, cwd: opts.cwd, env: opts.env, timeoutMs, stream: onEvent !== undefined };
    return this.serial(rec, async () => decodeRunResult(await this.ask(rec, 'run', args, timeoutMs + this.grace(), onEvent), rec.id));
  }

  async writeFile(world: WorldHandle, filePath: string, data: Uint8Array): Promise<void> {
    const rec = this.live(world, 'writeFile');
    if (typeof filePath !== 'string' || !filePath) throw new InvalidArgumentError('writeFile: path must be a non-empty string');
    // Each chunk (192 KiB) gets the host's patience for one request: a guest that stops answering is hung.
    await this.serial(rec, () => writeWorldFile((op, args) => this.ask(rec, op, args, FILE_REQUEST_MS), filePath, data));
  }

  async readFile(world: WorldHandle, filePath: string): Promise<Uint8Array> {
    const rec = this.live(world, 'readFile');
    if (typeof filePath !== 'string' || !filePath) throw new InvalidArgumentError('readFile: path must be a non-empty string');
    return this.serial(rec, () =>
      readWorldFile((op, args, onEvent, budget) => this.ask(rec, op, args, READ_FILE_MS, onEvent, budget), filePath, rec.id),
    );
  }

  // ---------------------------------------------------------------- snapshots

  async snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle> {
    const rec = this.live(world, 'snapshot');
    if (this.snaps.has(id)) throw new InvalidArgumentError(`a snapshot with id "${id}" already exists`);
    const ctx = await this.ensure();
    return this.serial(rec, async () => {
      const t0 = performance.now();
      const estimate = (await allocatedBytes(rec.vm.config.ramPath)) + 256 * 1024;
      if (this.snapshotBytes + estimate > this.budget) {
        throw new CapacityError(
          `snapshot ${id} would need ≈${mib(estimate)} MiB; snapshots already hold ${mib(this.snapshotBytes)} of ${mib(this.budget)} MiB (destroy some, or raise snapshotBudgetBytes)`,
        );
      }
      const name = this.nextName('s');
      const snap: SnapRec = {
        id,
        name,
        ram: ctx.run.file(`${name}.ram`),
        state: Buffer.alloc(0),
        memoryMib: rec.memoryMib,
        vcpus: rec.vcpus,
        sizeBytes: estimate,
      };
      this.snaps.set(id, snap);
      this.snapshotBytes += estimate;
      try {
        snap.state = await rec.vm.save(snap.ram);
      } catch (e) {
        this.snaps.delete(id);
        this.snapshotBytes -= estimate;
        await fs.rm(snap.ram, { force: true });
        if (!rec.vm.alive) throw new WorldFailedError(rec.id, (await rec.vm.waitExit()).reason);
        throw new DriverError(`snapshot of world ${rec.id} failed: ${(e as Error).message}`, e);
      }
      const size = (await allocatedBytes(snap.ram)) + snap.state.length;
      this.snapshotBytes += size - estimate;
      snap.sizeBytes = size;
      this.timings.snapshot = performance.now() - t0;
      return { id, sizeBytes: size };
    });
  }

  async branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]> {
    if (this.closed) throw new RuntimeClosedError();
    if (!opts || !Array.isArray(opts.ids) || opts.ids.length === 0) throw new InvalidArgumentError('branch: ids must be a non-empty array');
    if (new Set(opts.ids).size !== opts.ids.length) throw new InvalidArgumentError('branch: ids must be distinct');
    for (const id of opts.ids) if (this.worlds.has(id)) throw new InvalidArgumentError(`a world with id "${id}" already exists`);
    const ctx = await this.ensure();
    const t0 = performance.now();
    let snap: SnapRec;
    let temporary = false;
    if (isSnapshotHandle(source, this.snaps)) {
      snap = this.snaps.get(source.id) as SnapRec;
    } else if (this.worlds.has(source?.id)) {
      const h = await this.snapshot(source, `branch-src-${randomBytes(6).toString('hex')}`);
      snap = this.snaps.get(h.id) as SnapRec;
      temporary = true;
    } else {
      throw new SnapshotNotFoundError(String(source?.id));
    }
    const key = this.shapeKey(snap.memoryMib, snap.vcpus);
    this.wanted.set(key, Math.max(this.wanted.get(key) ?? 0, opts.ids.length));
    try {
      const settled = await Promise.allSettled(opts.ids.map((id) => this.clone(ctx, snap, id, opts.sameRandom === true)));
      const failed = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult | undefined;
      if (failed) {
        await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? this.destroyWorld({ id: s.value.id }) : Promise.resolve())));
        throw failed.reason;
      }
      this.timings.branch = performance.now() - t0;
      return settled.map((s) => ({ id: (s as PromiseFulfilledResult<WorldRec>).value.id }));
    } finally {
      if (temporary) await this.destroySnapshot({ id: snap.id });
    }
  }

  /** Resolves for a world already destroyed or never known (the contract: destroy is idempotent). */
  async destroyWorld(world: WorldHandle): Promise<void> {
    const rec = this.worlds.get(world?.id);
    if (!rec) return;
    if (rec.state !== 'failed') rec.state = 'destroyed';
    await rec.vm.kill();
    await this.removeFiles(rec.vm);
    this.worlds.delete(rec.id);
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
    const rec = this.worlds.get(world?.id);
    return rec?.vm.alive ? rec.vm.pid : undefined;
  }

  /** This driver's run directory on tmpfs (RAM files, sockets, pid files), once it has started. */
  async runDirectory(): Promise<string | undefined> {
    const ctx = this.ctx ? await this.ctx.catch(() => null) : null;
    return ctx?.run.path;
  }

  /** Pids of every QEMU this driver has running (worlds, spares). */
  processIds(): number[] {
    return [...this.vms].filter((v) => v.alive && v.pid).map((v) => v.pid);
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listeners.add(listener);
  }

  // ---------------------------------------------------------------- report, close

  async doctor(): Promise<DriverReport> {
    const notes: string[] = [];
    const report: DriverReport = { driver: 'microvm', available: false, notes };
    const q = await findQemu().catch(() => null);
    if (!q) {
      notes.push('qemu-system-x86_64 not found: apt-get install qemu-system-x86 busybox-static python3');
      return report;
    }
    report.qemu = q.qemu;
    report.qemuVersion = q.version;
    notes.push(`QEMU ${q.version} at ${q.qemu}`);
    const kvm = await kvmAccess();
    const setpriv = await which('setpriv');
    notes.push(
      setpriv ? 'QEMU runs under setpriv --pdeathsig KILL (dies with its parent)' : 'setpriv not found: only the supervisor cleans up after a killed parent',
    );
    const ctx = this.ctx ? await this.ctx.catch((e: Error) => e) : null;
    if (ctx && !(ctx instanceof Error)) {
      const a = ctx.assets;
      report.available = true;
      report.accel = a.accel.accel;
      notes.push(`accelerator: ${a.accel.reason}`);
      notes.push(`kernel: ${a.kernel.pkg} (${a.kernel.modules.length} modules in the initramfs)`);
      notes.push(`system image: ${path.basename(a.sysImage.file)} (${mib(a.sysImage.bytes)} MiB, python + stdlib, read-only)`);
      notes.push(
        `template ${a.template.memoryMib} MiB × ${a.template.vcpus}: ${mib(a.template.ramBytes)} MiB of RAM in use, cold boot ${Math.round(a.template.bootMs)} ms`,
      );
      notes.push(`run directory: ${ctx.run.path}`);
      notes.push(`snapshots: ${this.snaps.size} holding ${mib(this.snapshotBytes)} MiB of ${mib(this.budget)} MiB allowed`);
      notes.push(`worlds: ${[...this.worlds.values()].filter((w) => w.state === 'running').length} running`);
      report.snapshotBytes = this.snapshotBytes;
      report.snapshotBudgetBytes = this.budget;
      report.assets = { kernel: a.kernel.pkg, initramfs: a.initramfs.file, sysImage: a.sysImage.file, template: a.template.key };
    } else {
      if (ctx instanceof Error) notes.push(`setup failed: ${ctx.message}`);
      const mode = this.opts.accel ?? 'auto';
      let accel: string;
      if (mode === 'tcg') accel = 'TCG (software emulation): chosen by configuration';
      else if (!kvm.ok) accel = mode === 'kvm' ? `KVM asked for but ${kvm.why}: unavailable` : `TCG (software emulation): ${kvm.why}`;
      else {
        const cached = await fs
          .readFile(path.join(this.opts.home, 'microvm', 'accel.json'), 'utf8')
          .then((s) => (JSON.parse(s) as { decision: { reason: string } }).decision.reason)
          .catch(() => null);
        accel = cached ?? `${kvm.why}; whether a stock kernel boots under KVM is probed on first use`;
      }
      report.accel = /^KVM/.test(accel) ? 'kvm' : 'tcg';
      notes.push(`accelerator: ${accel}`);
      const dir = path.join(this.opts.home, 'microvm');
      const templates = await fs.readdir(path.join(dir, 'templates')).catch(() => [] as string[]);
      const kernels = await fs.readdir(path.join(dir, 'kernel')).catch(() => [] as string[]);
      notes.push(
        templates.length
          ? `assets: cached in ${dir} (${kernels.filter((k) => !k.startsWith('.')).join(', ') || 'no kernel'}; ${templates.length} template(s)); checked on first use`
          : `assets: not built yet in ${dir}; built on first use (kernel fetched with apt-get download, ≈15 s under TCG)`,
      );
      report.available = mode !== 'kvm' || kvm.ok;
    }
    notes.push(`RAM files on ${await ramDir()} (tmpfs); guest sees only its own /world, a read-only python image at /usr; no network device`);
    notes.push(`host: ${os.cpus().length} CPUs`);
    return report;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.debug(`close: ${this.vms.size} VMs`);
    const ctx = this.ctx ? await this.ctx.catch(() => null) : null;
    for (const rec of this.worlds.values()) if (rec.state !== 'failed') rec.state = 'destroyed';
    await Promise.all(
      [...this.vms].map(async (vm) => {
        vm.setRef(true); // keep the event loop alive until each exit is seen
        await vm.kill();
        this.debug(`close: ${vm.config.name} gone`);
      }),
    );
    this.debug('close: VMs gone');
    this.worlds.clear();
    this.pool.clear();
    this.ready.clear();
    this.snaps.clear();
    this.snapshotBytes = 0;
    if (ctx) await Promise.all([ctx.copier.close(), ctx.run.close()]);
    this.debug('close: done');
  }
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}
