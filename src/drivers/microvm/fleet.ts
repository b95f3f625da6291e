/**
 * @module
 * Every QEMU one microvm driver runs, and how a world comes to life in one: take a spare VM (a QEMU started
 * and waiting at `-incoming defer`), copy the image's RAM into its file, load the device state, run, and let
 * the agent set the clock and reseed. The driver's first call sets up the assets and a run directory; each
 * (memory, vcpus) shape gets its template copied into that directory once. Spares: pools.ts.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { DriverError, RuntimeClosedError, TimeoutError, WorldFailedError, WorldRuntimeError } from '../../base/errors.js';
import { env } from '../../base/config.js';
import { type AccelMode, type MicrovmAssets, setupMicrovm } from './assets.js';
import { Copier } from './copier.js';
import { type Shape, SparePool, shapeKey } from './pools.js';
import { RunDir } from './rundir.js';
import { ensureTemplate } from './template.js';
import { Vm } from './vm.js';

/** What a world or snapshot can be restored from. */
export interface Image extends Shape {
  ram: string;
  /** Device state (QEMU's migration stream without RAM), ≈60 KB. */
  state: Buffer;
}

/** What the first call sets up. */
export interface Ctx {
  assets: MicrovmAssets;
  run: RunDir;
  copier: Copier;
  /** Free bytes of the run directory's tmpfs when it was made. */
  freeBytes: number;
  /** Templates copied into the run dir (tmpfs), by shape. */
  templates: Map<string, Promise<Image>>;
}

export interface FleetOptions {
  home: string;
  accel?: AccelMode;
  progress: (msg: string) => void;
  spareWorlds: number;
  spareVms: number;
}

/** Spare VMs a large branch may raise a shape's pool to. */
const MAX_SPARE_VMS = 8;
const REFRESH_MS = 60_000;
const DEBUG = env('WORLD_RUNTIME_MICROVM_DEBUG') !== undefined;

/** Step-by-step trace on stderr when WORLD_RUNTIME_MICROVM_DEBUG is set. */
export function debug(msg: string): void {
  if (DEBUG) process.stderr.write(`[microvm ${process.pid} ${(performance.now() / 1000).toFixed(3)}] ${msg}\n`);
}

export class Fleet {
  /** Every QEMU started and not yet exited (worlds, spares, VMs being restored). */
  readonly vms = new Set<Vm>();
  private ctx: Promise<Ctx> | null = null;
  private closed = false;
  private seq = 0;
  private readonly spareVms: SparePool;
  private readonly spareWorlds: SparePool;
  /** Spare VMs wanted per shape: the size of its largest recent branch. */
  private readonly vmsWanted = new Map<string, number>();
  /** Milestones of the last restore (ms since it began): VM taken, RAM copied, running, agent answered. */
  lastClone: Record<string, number> = {};

  constructor(
    private readonly opts: FleetOptions,
    /** Any VM's end, told once; `filesGone` settles when its files are removed. */
    private readonly onExit: (vm: Vm, reason: string, filesGone: Promise<void>) => void,
  ) {
    // What a large branch adds is capped; the configured number is kept as it is.
    const vmTarget = (key: string) => (opts.spareVms <= 0 ? 0 : Math.max(opts.spareVms, Math.min(MAX_SPARE_VMS, this.vmsWanted.get(key) ?? 0)));
    this.spareVms = new SparePool('spare VM', vmTarget, opts.progress);
    this.spareWorlds = new SparePool('spare world', () => opts.spareWorlds, opts.progress);
  }

  /** The assets, run directory and copier, made by the first call; a failed setup is retried by the next. */
  setup(): Promise<Ctx> {
    if (this.closed) return Promise.reject(new RuntimeClosedError());
    if (!this.ctx) {
      this.ctx = (async () => {
        debug('setup: checking assets');
        const assets = await setupMicrovm({ home: this.opts.home, onProgress: this.opts.progress, accel: this.opts.accel });
        const run = await RunDir.create();
        debug(`setup: run directory ${run.path}`);
        const copier = new Copier();
        const shm = await fs.statfs(run.path).catch(() => null);
        const ctx: Ctx = { assets, run, copier, freeBytes: shm ? shm.bavail * shm.bsize : 8 * 2 ** 30, templates: new Map() };
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

  /** The context if setup has finished or failed (an Error), null if it never started. */
  async settled(): Promise<Ctx | Error | null> {
    return this.ctx ? this.ctx.catch((e: Error) => e) : null;
  }

  /** The shape's template, copied into the run directory on first use (booted and saved first if needed). */
  template(ctx: Ctx, shape: Shape): Promise<Image> {
    const key = shapeKey(shape);
    let t = ctx.templates.get(key);
    if (!t) {
      t = (async () => {
        const tpl = await ensureTemplate(ctx.assets, ctx.assets.accel.accel, shape.memoryMib, shape.vcpus, this.opts.progress);
        const ram = ctx.run.file(`t${shape.memoryMib}x${shape.vcpus}.ram`);
        this.refillSpareVms(ctx, shape);
        await ctx.copier.copy(tpl.ram, ram);
        return { ram, state: await fs.readFile(tpl.state), ...shape };
      })();
      t.catch(() => ctx.templates.delete(key));
      ctx.templates.set(key, t);
    }
    return t;
  }

  nextName(prefix: string): string {
    return `${prefix}${++this.seq}`;
  }

  /** A branch of `count` worlds: keep as many spare VMs of its shape from now on (at most MAX_SPARE_VMS). */
  want(shape: Shape, count: number): void {
    const key = shapeKey(shape);
    this.vmsWanted.set(key, Math.max(this.vmsWanted.get(key) ?? 0, count));
  }

  /** A started QEMU waiting for a snapshot (`-incoming defer`), its RAM file still empty. Killed if it fails. */
  private async startVm(ctx: Ctx, shape: Shape): Promise<Vm> {
    const name = this.nextName('v');
    const vm = new Vm({
      name,
      qemu: ctx.assets.qemu,
      setpriv: ctx.assets.setpriv,
      accel: ctx.assets.accel.accel,
      memoryMib: shape.memoryMib,
      vcpus: shape.vcpus,
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
    vm.on('exit', (e: { reason: string }) => this.vmExited(vm, e.reason));
    debug(`VM ${name}: starting`);
    try {
      await vm.start();
    } catch (e) {
      await vm.kill();
      throw e;
    }
    return vm;
  }

  private refillSpareVms(ctx: Ctx, shape: Shape): void {
    this.spareVms.refill(shape, () => this.startVm(ctx, shape));
  }

  /** Keep the shape's spare worlds (restored template clones) topped up, in the background. */
  refillSpareWorlds(ctx: Ctx, template: Image): void {
    this.spareWorlds.refill(template, () => this.restore(ctx, template, `spare-world-${shapeKey(template)}`, false));
  }

  /** A spare world of this shape, answering (clock and randomness refreshed for its new owner), or undefined. */
  async takeSpareWorld(shape: Shape, label: string): Promise<Vm | undefined> {
    for (let vm = this.spareWorlds.take(shape); vm; vm = this.spareWorlds.take(shape)) {
      try {
        await this.refresh(vm, label, false);
        if (vm.alive) return vm;
      } catch {
        await vm.kill(); // a broken spare: try the next, or restore one on the spot
      }
    }
    return undefined;
  }

  /** Set the guest clock to now and, unless `sameRandom`, reseed its randomness (after every restore). */
  private async refresh(vm: Vm, label: string, sameRandom: boolean): Promise<void> {
    const reply = vm.agent.request('restore', {
      timeNs: (BigInt(Date.now()) * 1_000_000n).toString(),
      seed: sameRandom ? null : randomBytes(32).toString('hex'),
    }).reply;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`world ${label} did not answer within ${REFRESH_MS / 1000} s of its restore`)), REFRESH_MS);
    });
    await Promise.race([reply, late]).finally(() => clearTimeout(timer));
  }

  /**
   * Bring an image to life: take a spare VM (or start one), copy the RAM into it, load the device state,
   * run, refresh clock and randomness. Resolves once the guest answered; kills the VM on failure.
   */
  async restore(ctx: Ctx, image: Image, label: string, sameRandom: boolean): Promise<Vm> {
    let vm: Vm | undefined;
    const t0 = performance.now();
    const lap: Record<string, number> = {};
    try {
      vm = this.spareVms.take(image) ?? (await this.startVm(ctx, image));
      lap.vm = performance.now() - t0;
      debug(`restore ${label}: VM ${vm.config.name} (pid ${vm.pid}); copying RAM`);
      if (this.closed) throw new RuntimeClosedError();
      await ctx.copier.copy(image.ram, vm.config.ramPath, true);
      lap.copy = performance.now() - t0;
      await vm.restore(image.state);
      lap.running = performance.now() - t0;
      await this.refresh(vm, label, sameRandom);
      lap.answered = performance.now() - t0;
      debug(`restore ${label}: answered ${JSON.stringify(lap)}`);
      this.lastClone = lap;
      if (!vm.alive) throw new WorldFailedError(label, (await vm.waitExit()).reason);
      if (this.closed) throw new RuntimeClosedError();
      return vm;
    } catch (e) {
      if (vm) await vm.kill();
      if (WorldRuntimeError.is(e)) throw e;
      throw new DriverError(`cannot start world ${label}: ${(e as Error).message}`, e);
    } finally {
      this.refillSpareVms(ctx, image);
    }
  }

  /** Spares ready now (doctor). */
  spares(): { worlds: number; vms: number } {
    return { worlds: this.spareWorlds.size, vms: this.spareVms.size };
  }

  /** Remove a VM's files (RAM, sockets, console, pid). */
  async removeFiles(vm: Vm): Promise<void> {
    const c = vm.config;
    await Promise.all([c.ramPath, c.agentSock, c.consolePath, c.pidPath].map((f) => fs.rm(f, { force: true })));
  }

  private vmExited(vm: Vm, reason: string): void {
    this.vms.delete(vm);
    this.spareVms.remove(vm);
    this.spareWorlds.remove(vm);
    const filesGone = this.removeFiles(vm);
    this.onExit(vm, reason, filesGone);
  }

  /** Kill every QEMU, then remove the run directory and end the copier. */
  async close(): Promise<void> {
    this.closed = true;
    this.spareVms.close();
    this.spareWorlds.close();
    const ctx = await this.settled();
    debug(`close: ${this.vms.size} VMs`);
    await Promise.all(
      [...this.vms].map(async (vm) => {
        vm.setRef(true); // keep the event loop alive until each exit is seen
        await vm.kill();
      }),
    );
    if (ctx && !(ctx instanceof Error)) await Promise.all([ctx.copier.close(), ctx.run.close()]);
    debug('close: done');
  }
}
