/**
 * @module
 * Morph snapshots and instances as world-runtime snapshots and worlds: the registry behind the
 * Morph-compatible routes. An instance is a world plus what Morph keeps beside it (metadata, TTL, the
 * snapshot it started from); a Morph snapshot is a `Snapshot` kept for the daemon's life. Pause is a
 * snapshot and an ended world (resume branches it back under the same instance id), as in src/compat/e2b.
 * Lifecycle operations on one instance run one at a time; stop always resolves.
 */
import { randomBytes } from 'node:crypto';
import type { Snapshot, World, WorldRuntime } from '../../index.js';
import { ApiError } from './http.js';

/** The one image: a plain world (Python 3 and a shell), under the name of Morph's minimal image. */
export const IMAGE_ID = 'morphvm-minimal';
/** Morph's spec units: memory and disk in MiB. */
export interface Spec {
  vcpus: number;
  memory: number;
  disk_size: number;
}
export type TtlAction = 'stop' | 'pause';

export interface MorphSnapshot {
  id: string;
  snapshot: Snapshot;
  created: number;
  spec: Spec;
  digest: string | null;
  metadata: Record<string, string>;
}

export class MorphInstance {
  status: 'ready' | 'paused' | 'error' = 'ready';
  pausedAs: Snapshot | null = null;
  stopped = false;
  ttlSeconds: number | null = null;
  ttlExpireAt: number | null = null;
  ttlAction: TtlAction | null = null;
  timer: NodeJS.Timeout | undefined;
  wakeOn = { wake_on_ssh: false, wake_on_http: false };
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    public world: World | null,
    readonly snapshotId: string,
    readonly spec: Spec,
    public metadata: Record<string, string>,
    readonly created: number,
  ) {}

  /** Run `fn` after every lifecycle operation already queued on this instance. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => {});
    return next;
  }

  /** The running world, or the answer for an instance that is not running. */
  running(): World {
    if (this.status === 'ready' && this.world?.state === 'running') return this.world;
    throw new ApiError(409, `instance ${this.id} is ${this.status === 'ready' ? 'error' : this.status}: only a ready instance can do that`);
  }
}

function morphId(prefix: string): string {
  return `${prefix}_${Array.from(randomBytes(8), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')}`;
}

const now = (): number => Math.floor(Date.now() / 1000);

export interface InstanceOptions {
  metadata: Record<string, string>;
  ttlSeconds: number | null;
  ttlAction: TtlAction | null;
}

export class Registry {
  readonly instances = new Map<string, MorphInstance>();
  readonly snapshots = new Map<string, MorphSnapshot>();
  private closed = false;

  constructor(
    readonly runtime: WorldRuntime,
    private readonly opts: { maxWorlds: number; log: (line: string) => void },
  ) {}

  instance(id: string): MorphInstance {
    const inst = this.instances.get(id);
    if (!inst) throw new ApiError(404, `instance ${id} not found`);
    // A world that died on its own leaves its instance in status "error" (the SDK's waitUntilReady stops there).
    if (inst.status === 'ready' && inst.world?.state !== 'running') inst.status = 'error';
    return inst;
  }

  snapshot(id: string): MorphSnapshot {
    const s = this.snapshots.get(id);
    if (s?.snapshot.state !== 'ready') throw new ApiError(404, `snapshot ${id} not found`);
    return s;
  }

  private ensureRoom(worlds: number, snapshots = 0): void {
    if (this.closed) throw new ApiError(503, 'the daemon is shutting down');
    if (this.runtime.worlds().length + worlds > this.opts.maxWorlds) {
      throw new ApiError(429, `world-runtime runs at most ${this.opts.maxWorlds} worlds at once (daemon option maxWorlds); stop an instance first`);
    }
    // A snapshot holds a frozen world: they are capped like worlds.
    if (this.snapshots.size + snapshots > this.opts.maxWorlds) {
      throw new ApiError(429, `world-runtime keeps at most ${this.opts.maxWorlds} snapshots (daemon option maxWorlds); delete one first`);
    }
  }

  /** POST /snapshot: a fresh world of that size, snapshotted and ended. */
  async createSnapshot(spec: Spec, digest: string | null, metadata: Record<string, string>): Promise<MorphSnapshot> {
    this.ensureRoom(1, 1);
    const world = await this.runtime.create({ vcpus: spec.vcpus, memoryMib: spec.memory, diskMib: spec.disk_size, metadata: { morph: 'snapshot' } });
    try {
      return this.keep(await world.snapshot(), spec, digest, metadata);
    } finally {
      await world.destroy().catch(() => {});
    }
  }

  private keep(snapshot: Snapshot, spec: Spec, digest: string | null, metadata: Record<string, string>): MorphSnapshot {
    const s: MorphSnapshot = { id: morphId('snapshot'), snapshot, created: now(), spec: { ...spec }, digest, metadata: { ...metadata } };
    this.snapshots.set(s.id, s);
    return s;
  }

  async deleteSnapshot(s: MorphSnapshot): Promise<void> {
    this.snapshots.delete(s.id);
    await s.snapshot.destroy().catch(() => {});
  }

  /** POST /instance and /snapshot/{id}/boot: `count` instances branched from the snapshot, ready at once. */
  async start(s: MorphSnapshot, count: number, o: InstanceOptions): Promise<MorphInstance[]> {
    this.ensureRoom(count);
    const worlds = await this.runtime.branch(s.snapshot, count);
    return worlds.map((w) => {
      const inst = new MorphInstance(morphId('morphvm'), w, s.id, s.spec, { ...o.metadata }, now());
      this.instances.set(inst.id, inst);
      if (o.ttlSeconds !== null) this.setTtl(inst, o.ttlSeconds, o.ttlAction ?? 'stop');
      return inst;
    });
  }

  /** POST /instance/{id}/snapshot: the instance keeps running. */
  snapshotInstance(inst: MorphInstance, digest: string | null, metadata: Record<string, string>): Promise<MorphSnapshot> {
    return inst.serial(async () => {
      const world = inst.running();
      this.ensureRoom(0, 1);
      return this.keep(await world.snapshot(), inst.spec, digest, metadata);
    });
  }

  /** Pause: snapshot the world, then end it. */
  pause(inst: MorphInstance): Promise<void> {
    return inst.serial(async () => {
      if (inst.status === 'paused') return;
      const world = inst.running();
      const snap = await world.snapshot(`morph-pause-${inst.id}`);
      inst.world = null;
      inst.pausedAs = snap;
      inst.status = 'paused';
      await world.destroy().catch(() => {});
    });
  }

  /** Resume a paused instance in a world branched from its pause snapshot. */
  resume(inst: MorphInstance): Promise<void> {
    return inst.serial(async () => {
      if (inst.status !== 'paused' || !inst.pausedAs) {
        inst.running();
        return;
      }
      this.ensureRoom(1);
      const [world] = (await this.runtime.branch(inst.pausedAs, 1)) as [World];
      const snap = inst.pausedAs;
      inst.world = world;
      inst.pausedAs = null;
      inst.status = 'ready';
      await snap.destroy().catch(() => {});
    });
  }

  /**
   * Reboot: a world cannot restart with its disk kept, so the instance restarts from the snapshot it was
   * started from (memory and files both go back to it); refused when that snapshot was deleted.
   */
  reboot(inst: MorphInstance): Promise<void> {
    return inst.serial(async () => {
      if (inst.status === 'paused') throw new ApiError(409, `instance ${inst.id} is paused: resume it first`);
      const source = this.snapshots.get(inst.snapshotId);
      if (source?.snapshot.state !== 'ready') {
        throw new ApiError(409, `instance ${inst.id} cannot reboot: world-runtime reboots an instance from the snapshot it started from, and ${inst.snapshotId} was deleted`);
      }
      const [world] = (await this.runtime.branch(source.snapshot, 1)) as [World];
      const old = inst.world;
      inst.world = world;
      inst.status = 'ready';
      await old?.destroy().catch(() => {});
    });
  }

  /** Stop the instance and forget it. Always resolves; a second stop is a no-op. */
  stop(inst: MorphInstance): Promise<void> {
    if (inst.stopped) return Promise.resolve();
    inst.stopped = true;
    this.instances.delete(inst.id);
    clearTimeout(inst.timer);
    const world = inst.world;
    const snap = inst.pausedAs;
    inst.world = null;
    inst.pausedAs = null;
    return Promise.allSettled([world?.destroy(), snap?.destroy()]).then(() => {});
  }

  /** The TTL counts from now; at its end the instance stops or pauses. */
  setTtl(inst: MorphInstance, seconds: number, action: TtlAction): void {
    clearTimeout(inst.timer);
    inst.ttlSeconds = seconds;
    inst.ttlAction = action;
    inst.ttlExpireAt = now() + seconds;
    inst.timer = setTimeout(() => void this.expire(inst), seconds * 1000);
    inst.timer.unref();
  }

  private async expire(inst: MorphInstance): Promise<void> {
    if (inst.stopped) return;
    if (inst.ttlAction === 'pause') {
      try {
        await this.pause(inst);
        return;
      } catch (err) {
        this.opts.log(`morph: instance ${inst.id} could not pause at its TTL (${(err as Error).message}); stopping it`);
      }
    }
    await this.stop(inst);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.instances.values()].map((i) => this.stop(i)));
    await Promise.all([...this.snapshots.values()].map((s) => this.deleteSnapshot(s)));
  }
}
