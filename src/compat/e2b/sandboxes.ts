/**
 * @module
 * E2B sandboxes as worlds: the registry behind the control plane. A sandbox is a world plus what E2B keeps
 * beside it (template, metadata, environment variables, its access token, its expiry, its code contexts).
 * Fork is `WorldRuntime.branch` of the running world, a snapshot is `World.snapshot`, pause is a snapshot
 * and a destroyed world (resume branches it back under the same sandbox id). Lifecycle operations on one
 * sandbox run one at a time; kill always resolves.
 */
import { randomBytes } from 'node:crypto';
import type { Snapshot, World, WorldRuntime } from '../../index.js';
import { ConnectError } from './connect.js';
import { installGuest } from './guest.js';
import { Poller } from './poller.js';
import { ApiError, apiError } from './rest.js';

/** What the SDK is told envd is: 0.6.4 unlocks every feature the SDK gates (all served, docs/e2b.md). */
export const ENVD_VERSION = '0.6.4';
/** Templates that name a plain world (E2B's `base` and the code interpreter's). */
export const DEFAULT_TEMPLATES = ['base', 'code-interpreter-v1', 'code-interpreter'];
export const DEFAULT_TIMEOUT_S = 300;
export const MAX_TIMEOUT_S = 86_400;

export interface ContextInfo {
  id: string;
  language: string;
  cwd: string;
}

/** What a fork or a snapshot carries beside the world's own memory and files. */
interface Carried {
  templateId: string;
  alias?: string;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  contexts: ContextInfo[];
}

export class SandboxRecord {
  state: 'running' | 'paused' | 'killed' = 'running';
  pausedAs: Snapshot | null = null;
  endAt: Date;
  timer: NodeJS.Timeout | undefined;
  poller: Poller | null = null;
  readonly contexts = new Map<string, ContextInfo>();
  /** How many streams follow each command (its output is dropped once none does and it ended). */
  readonly procFollowers = new Map<number, number>();
  /** Ids of the polled (CreateWatcher) watchers made in this sandbox. */
  readonly watchers = new Set<string>();
  /** Answers in flight (streams, executions) to cut when the sandbox goes: the SDK then checks its health. */
  readonly live = new Set<() => void>();
  autoPause = false;
  autoResume = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly id: string,
    public world: World | null,
    readonly token: string,
    readonly carried: Carried,
    readonly startedAt: Date,
    timeoutS: number,
  ) {
    this.endAt = new Date(startedAt.getTime() + timeoutS * 1000);
    for (const c of carried.contexts) this.contexts.set(c.id, { ...c });
  }

  get metadata(): Record<string, string> {
    return this.carried.metadata;
  }

  get envVars(): Record<string, string> {
    return this.carried.envVars;
  }

  /** Run `fn` after every lifecycle operation already queued on this sandbox. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => {});
    return next;
  }

  /** The running world, or the answer E2B gives for a sandbox that is not running. */
  running(): World {
    if (this.state === 'running' && this.world && this.world.state === 'running') return this.world;
    throw new ConnectError('unavailable', `sandbox ${this.id} is ${this.state === 'paused' ? 'paused' : 'not running'}`);
  }

  pollerFor(world: World): Poller {
    if (!this.poller || this.poller.isStopped) this.poller = new Poller(world);
    return this.poller;
  }
}

export interface SnapshotRecord {
  id: string;
  name: string | null;
  snapshot: Snapshot;
  sandboxId: string;
  carried: Carried;
  createdAt: Date;
}

function e2bId(): string {
  // 20 characters of [a-z0-9], like E2B's sandbox ids.
  return Array.from(randomBytes(20), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('');
}

export interface SandboxesOptions {
  maxWorlds: number;
  log: (line: string) => void;
}

export class Sandboxes {
  readonly all = new Map<string, SandboxRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  private closed = false;
  private templatePending: Promise<Snapshot> | undefined;
  private templateReady: Snapshot | null = null;

  constructor(
    readonly runtime: WorldRuntime,
    private readonly opts: SandboxesOptions,
  ) {}

  /** A sandbox the caller may see; one whose world died on its own is cleaned up and not found. */
  find(id: string): SandboxRecord | undefined {
    const rec = this.all.get(id);
    if (!rec) return undefined;
    if (rec.state === 'running' && rec.world?.state !== 'running') {
      void this.kill(rec, 'its world stopped');
      return undefined;
    }
    return rec;
  }

  get(id: string): SandboxRecord {
    const rec = this.find(id);
    if (!rec) throw new ApiError(404, `sandbox "${id}" doesn't exist or you don't have access to it`);
    return rec;
  }

  /** How many more worlds the daemon's limit allows. */
  private room(): number {
    return Math.max(0, this.opts.maxWorlds - this.runtime.worlds().length);
  }

  private ensureRoom(n: number): void {
    if (this.closed) throw new ApiError(503, 'the daemon is shutting down');
    if (this.room() < n) {
      throw new ApiError(429, `world-runtime runs at most ${this.opts.maxWorlds} worlds at once (daemon option maxWorlds); kill a sandbox first`);
    }
  }

  /** A new sandbox from a default template, or from a snapshot taken here. */
  async create(templateId: string, opts: { timeoutS: number; metadata: Record<string, string>; envVars: Record<string, string>; autoPause: boolean; autoResume: boolean }): Promise<SandboxRecord> {
    this.ensureRoom(1);
    const snap = this.snapshotByRef(templateId);
    if (!snap && !DEFAULT_TEMPLATES.includes(templateId)) {
      throw new ApiError(
        400,
        `template "${templateId}" is not available: world-runtime serves the default templates (${DEFAULT_TEMPLATES.join(', ')}) and snapshots taken here, and builds no templates`,
      );
    }
    const [world] = (await this.runtime.branch(snap ? snap.snapshot : await this.template(), 1)) as [World];
    const carried: Carried = snap
      ? { ...snap.carried, templateId: snap.id, metadata: { ...opts.metadata }, envVars: { ...snap.carried.envVars, ...opts.envVars } }
      : { templateId, metadata: { ...opts.metadata }, envVars: { ...opts.envVars }, contexts: [] };
    if (Object.keys(opts.envVars).length > 0) {
      try {
        await setEnv(world, opts.envVars);
      } catch (err) {
        await world.destroy().catch(() => {});
        throw err;
      }
    }
    const rec = new SandboxRecord(e2bId(), world, randomBytes(32).toString('hex'), carried, new Date(), opts.timeoutS);
    rec.autoPause = opts.autoPause;
    rec.autoResume = opts.autoResume;
    this.register(rec);
    return rec;
  }

  /**
   * The default template, as E2B's templates are: a snapshot of a prepared sandbox (a world with the
   * helper installed). A sandbox is a branch of it, which answers in a few ms where a fresh world and its
   * helper take ten times that. Made on first use, and again if it was lost.
   */
  private template(): Promise<Snapshot> {
    if (this.templateReady?.state === 'destroyed') {
      this.templateReady = null;
      this.templatePending = undefined;
    }
    this.templatePending ??= this.makeTemplate().then(
      (snap) => {
        this.templateReady = snap;
        return snap;
      },
      (err: unknown) => {
        this.templatePending = undefined;
        throw err;
      },
    );
    return this.templatePending;
  }

  private async makeTemplate(): Promise<Snapshot> {
    const world = await this.runtime.create({ metadata: { e2b: 'template' } });
    try {
      await installGuest(world, {});
      return await world.snapshot('e2b-template');
    } finally {
      await world.destroy().catch(() => {});
    }
  }

  /** `count` new sandboxes branched from the running one; each entry a sandbox or the error of that fork. */
  async fork(rec: SandboxRecord, count: number, timeoutS: number): Promise<(SandboxRecord | ApiError)[]> {
    if (this.closed) throw new ApiError(503, 'the daemon is shutting down');
    const world = rec.state === 'paused' ? null : rec.world;
    if (world?.state !== 'running') throw new ApiError(409, `sandbox ${rec.id} is ${rec.state === 'paused' ? 'paused' : 'not running'}: only a running sandbox can be forked`);
    const n = Math.min(count, this.room());
    const out: (SandboxRecord | ApiError)[] = [];
    if (n > 0) {
      let worlds: World[];
      try {
        worlds = await this.runtime.branch(world, n);
      } catch (err) {
        const e = apiError(err);
        return Array.from({ length: count }, () => e);
      }
      const now = new Date();
      for (const w of worlds) {
        const carried: Carried = { ...rec.carried, metadata: { ...rec.metadata }, envVars: { ...rec.envVars }, contexts: [...rec.contexts.values()] };
        const child = new SandboxRecord(e2bId(), w, randomBytes(32).toString('hex'), carried, now, timeoutS);
        child.autoPause = rec.autoPause;
        child.autoResume = rec.autoResume;
        this.register(child);
        out.push(child);
      }
    }
    while (out.length < count) out.push(new ApiError(429, `world-runtime runs at most ${this.opts.maxWorlds} worlds at once (daemon option maxWorlds)`));
    return out;
  }

  /** A persistent (for the daemon's life) snapshot of a running sandbox, which keeps running. */
  snapshot(rec: SandboxRecord, name: string | null): Promise<SnapshotRecord> {
    return rec.serial(async () => {
      const world = rec.running();
      // A snapshot holds a frozen process: they are capped like worlds.
      if (this.snapshots.size >= this.opts.maxWorlds) {
        throw new ApiError(429, `world-runtime keeps at most ${this.opts.maxWorlds} snapshots (daemon option maxWorlds); delete one first`);
      }
      const snapshot = await world.snapshot(name ?? undefined);
      const carried: Carried = { ...rec.carried, metadata: { ...rec.metadata }, envVars: { ...rec.envVars }, contexts: [...rec.contexts.values()] };
      const s: SnapshotRecord = { id: snapshot.id, name, snapshot, sandboxId: rec.id, carried, createdAt: new Date() };
      this.snapshots.set(s.id, s);
      return s;
    });
  }

  /** By id, by name, or by `name:default` (the only tag a snapshot here has); the newest of a name wins. */
  snapshotByRef(ref: string): SnapshotRecord | undefined {
    const direct = this.snapshots.get(ref);
    if (direct && direct.snapshot.state === 'ready') return direct;
    const name = ref.endsWith(':default') ? ref.slice(0, -':default'.length) : ref;
    let best: SnapshotRecord | undefined;
    for (const s of this.snapshots.values()) {
      if ((s.name === name || s.id === name) && s.snapshot.state === 'ready' && (!best || s.createdAt >= best.createdAt)) best = s;
    }
    return best;
  }

  async deleteSnapshot(s: SnapshotRecord): Promise<void> {
    this.snapshots.delete(s.id);
    await s.snapshot.destroy().catch(() => {});
  }

  /** Pause: snapshot the world, then end it. False when already paused. */
  pause(rec: SandboxRecord): Promise<boolean> {
    return rec.serial(async () => {
      if (rec.state === 'paused') return false;
      const world = rec.running();
      const snap = await world.snapshot(`e2b-pause-${rec.id}`);
      // Paused before the world goes, so no lookup meanwhile takes the ended world for a dead sandbox.
      rec.world = null;
      rec.pausedAs = snap;
      rec.state = 'paused';
      this.endStreams(rec, new ConnectError('unavailable', `sandbox ${rec.id} was paused`));
      await world.destroy().catch(() => {});
      this.opts.log(`e2b: sandbox ${rec.id} paused (snapshot ${snap.id})`);
      return true;
    });
  }

  /** Resume a paused sandbox in a world branched from its pause snapshot; false when it was running. */
  resume(rec: SandboxRecord, timeoutS: number | undefined): Promise<boolean> {
    return rec.serial(async () => {
      if (rec.state === 'running') return false;
      if (rec.state !== 'paused' || !rec.pausedAs) throw new ApiError(404, `sandbox "${rec.id}" doesn't exist or you don't have access to it`);
      this.ensureRoom(1);
      const [world] = (await this.runtime.branch(rec.pausedAs, 1)) as [World];
      const snap = rec.pausedAs;
      rec.world = world;
      rec.pausedAs = null;
      rec.state = 'running';
      rec.poller = null;
      await snap.destroy().catch(() => {});
      this.setTimeout(rec, timeoutS ?? DEFAULT_TIMEOUT_S);
      this.opts.log(`e2b: sandbox ${rec.id} resumed`);
      return true;
    });
  }

  /** Kill the sandbox and forget it. Always resolves; a second kill is a no-op. */
  kill(rec: SandboxRecord, why = 'killed'): Promise<void> {
    if (rec.state === 'killed') return Promise.resolve();
    rec.state = 'killed';
    this.all.delete(rec.id);
    clearTimeout(rec.timer);
    this.endStreams(rec, new ConnectError('unavailable', `sandbox ${rec.id} was ${why}`));
    const world = rec.world;
    const snap = rec.pausedAs;
    rec.world = null;
    rec.pausedAs = null;
    this.opts.log(`e2b: sandbox ${rec.id} ${why}`);
    return Promise.allSettled([world?.destroy(), snap?.destroy()]).then(() => {});
  }

  /** The sandbox expires `timeoutS` seconds from now (E2B's setTimeout: shorter or longer). */
  setTimeout(rec: SandboxRecord, timeoutS: number): void {
    clearTimeout(rec.timer);
    rec.endAt = new Date(Date.now() + timeoutS * 1000);
    rec.timer = setTimeout(() => void this.expire(rec), Math.max(0, timeoutS * 1000));
    rec.timer.unref();
  }

  private async expire(rec: SandboxRecord): Promise<void> {
    if (rec.state === 'killed') return;
    if (rec.autoPause && rec.state === 'running') {
      try {
        await this.pause(rec);
        return;
      } catch (err) {
        this.opts.log(`e2b: sandbox ${rec.id} could not pause at its timeout (${(err as Error).message}); killing it`);
      }
    }
    if (rec.state !== 'paused') await this.kill(rec, 'killed at its timeout');
  }

  private register(rec: SandboxRecord): void {
    this.all.set(rec.id, rec);
    this.setTimeout(rec, (rec.endAt.getTime() - rec.startedAt.getTime()) / 1000);
  }

  private endStreams(rec: SandboxRecord, err: ConnectError): void {
    rec.poller?.stop(err);
    rec.poller = null;
    for (const cut of [...rec.live]) cut();
    rec.live.clear();
  }

  /** Kill every sandbox and drop every snapshot (the daemon is closing). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all.values()].map((r) => this.kill(r, 'ended with the daemon')));
    await Promise.all([...this.snapshots.values()].map((s) => this.deleteSnapshot(s)));
    const template = await this.templatePending?.catch(() => undefined);
    await template?.destroy().catch(() => {});
  }
}

/** The sandbox's environment variables, in its interpreter (commands inherit them from there). */
async function setEnv(world: World, env: Record<string, string>): Promise<void> {
  const code = `__import__('os').environ.update(__import__('json').loads(${JSON.stringify(JSON.stringify(env))}))`;
  const r = await world.exec(code);
  if (r.error) throw new ApiError(500, `cannot set the sandbox's environment variables: ${r.error.message}`);
}
