/**
 * @module
 * `WorldRuntime`: the facade. It owns one driver, the live worlds and snapshots, and (with the store) the
 * record of everything. It is the one place that ties drivers, ledger and store together.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger } from '../ledger/index.js';
import { Store } from '../store/index.js';
import type { Driver, WorldHandle } from '../drivers/driver.js';
import { ProcessDriver } from '../drivers/process/driver.js';
import { DriverError, InvalidArgumentError, RuntimeClosedError, SnapshotNotFoundError, WorldNotFoundError } from '../base/errors.js';
import { newId } from '../base/ids.js';
import { type NormalOpenOptions, type OpenOptions, normalizeBranch, normalizeCreate, normalizeOpen } from './options.js';
import { Recorder } from './record.js';
import type { BranchOptions, CreateOptions, ExecResult, Trit } from '../base/types.js';
import { ChangeFeed, type ChangeListener } from './changes.js';
import { readEvents, type VerseEvent } from './events.js';
import {
  type PullUpOptions,
  type PullUpResult,
  type PushDownOptions,
  type PushDownResult,
  type VerseChild,
  type VerseExecResult,
  VerseBook,
  type VerseWorld,
} from './verses.js';
import { Snapshot, World, type WorldHost } from './world.js';

/** What a world or snapshot uses (see `WorldRuntime.usage`). */
export interface Usage {
  diskBytes: number | null;
  memoryBytes: number | null;
}

export interface DoctorReport {
  node: string;
  platform: string;
  home: string;
  drivers: Record<string, unknown>[];
}

/**
 * Open a runtime, make worlds, snapshot and branch them.
 *
 * @example
 * ```ts
 * const rt = await WorldRuntime.open();
 * const w = await rt.create();
 * await w.exec('import random; state = [random.random() for _ in range(10)]');
 * const s = await w.snapshot('pre-event');
 * const [a, b] = await rt.branch(s, 2);
 * await rt.close();
 * ```
 */
export class WorldRuntime implements WorldHost {
  /** The Multiverse Finance ledger, in the same DuckDB file as the record (in memory with `record: false`). */
  readonly ledger: Ledger;
  private readonly verseBook: VerseBook;
  private readonly liveWorlds = new Map<string, World>();
  private readonly liveSnapshots = new Map<string, Snapshot>();
  private closed = false;
  private readonly recorder?: Recorder;
  private readonly changes = new ChangeFeed();

  private constructor(
    readonly driver: Driver,
    readonly options: NormalOpenOptions,
    /** The DuckDB record (`<home>/world-runtime.duckdb`), unless opened with `record: false`. */
    readonly record: Store | undefined,
    /** Worlds the record showed running when this runtime opened: their process had died with its owner. */
    readonly lostOnOpen: readonly string[],
    ledger: Ledger,
  ) {
    if (record) this.recorder = new Recorder(record, driver.name === 'microvm' ? 'microvm' : 'sandbox');
    this.ledger = ledger;
    this.verseBook = new VerseBook(
      ledger,
      {
        splitWorld: (w, name, children, event) => this.splitWorld(w, name, children, event),
        collapseWorld: (w) => this.collapseWorld(w),
      },
      this.recorder,
    );
    driver.onWorldExit((id, reason) => this.onWorldExit(id, reason));
    ledger.onCommitted((op) => this.changes.emit({ type: 'ledger', op }));
  }

  /**
   * Open a runtime in `home` (created if missing). One process at a time may own a home: a second gets
   * `HomeLockedError`.
   */
  static async open(options: OpenOptions = {}): Promise<WorldRuntime> {
    const opts = normalizeOpen(options);
    mkdirSync(opts.home, { recursive: true, mode: 0o700 });
    // One DuckDB thread and a flush a second: the record's batches then cost branching no measurable latency
    // on a 2-core machine (bench "record on vs off": +12 % at 500 ms, −0.7 % at 1 s). A crash loses at most
    // the last second of record rows; ledger operations are durable on their own.
    const record = opts.record ? await Store.open(join(opts.home, 'world-runtime.duckdb'), { duckdb: { threads: '1' }, flushIntervalMs: 1000 }) : undefined;
    let ledger: Ledger | undefined;
    try {
      // Rows still 'running' (or snapshots 'snapshotted') belong to a runtime that died without closing:
      // its worlds died with it.
      const lost = record ? await record.markRunningAsLost({ states: ['running', 'snapshotted'] }) : [];
      ledger = await Ledger.open(record ? record.instance : ':memory:');
      const driver = await openDriver(opts);
      return new WorldRuntime(driver, opts, record, lost, ledger);
    } catch (err) {
      await ledger?.close();
      await record?.close();
      throw err;
    }
  }

  get home(): string {
    return this.options.home;
  }

  /** A fresh world. */
  async create(options: CreateOptions = {}): Promise<World> {
    this.ensureOpen();
    const o = normalizeCreate(options);
    const id = newId('w');
    const t0 = performance.now();
    const size = { memoryMib: o.memoryMib, vcpus: o.vcpus, diskMib: o.diskMib };
    const handle = await this.driver.create({ id, ...size });
    const world = new World(handle, this, null, null, o.trit, o.metadata, size, performance.now() - t0);
    this.recorder?.created(world);
    return this.track(world);
  }

  /**
   * Start `count` worlds (an integer from 1 to 1000) from a snapshot, or from a running world (a snapshot of it
   * at this instant, without keeping the snapshot). Each has the full memory and files of its source and
   * diverges from then on.
   */
  async branch(source: Snapshot | World, count: number, options: BranchOptions = {}): Promise<World[]> {
    this.ensureOpen();
    const o = normalizeBranch(count, options);
    if (!(source instanceof Snapshot) && !(source instanceof World)) throw new InvalidArgumentError('branch: source must be a Snapshot or a World');
    source.check('branch');
    const ids = Array.from({ length: o.count }, () => newId('w'));
    const { size } = source;
    const t0 = performance.now();
    const handles = await this.driver.branch(source.handle, { ids, memoryMib: size.memoryMib, sameRandom: o.sameRandom });
    const ms = performance.now() - t0;
    const parentId = source instanceof World ? source.id : source.worldId;
    const snapshotId = source instanceof Snapshot ? source.id : null;
    const worlds = handles.map((h: WorldHandle, i) =>
      this.track(new World(h, this, parentId, snapshotId, o.trits[i] as Trit | null, { ...o.metadata }, size, ms)),
    );
    this.recorder?.branched(snapshotId ?? parentId, worlds, ms);
    return worlds;
  }

  /**
   * Push a world down into verses: snapshot it, branch one world per child verse (the nash/optimal/chaos
   * triad, `SEED_TRIAD`, by default) and create the ledger partition under the world's own verse.
   */
  async pushDown(world: World, options: PushDownOptions = {}): Promise<PushDownResult> {
    this.ensureOpen();
    const result = await this.verseBook.pushDown(world, options);
    this.changes.emit({ type: 'pushDown', result });
    return result;
  }

  /** Run code in every verse at once (by verse name or id); one failing verse does not stop the others. */
  executeIn(verses: readonly VerseWorld[] | string, codeByVerse: Record<string, string> | ((v: VerseWorld) => string)): Promise<VerseExecResult[]> {
    this.ensureOpen();
    return this.verseBook.executeIn(typeof verses === 'string' ? this.verseBook.eventVerses(verses) : verses, codeByVerse);
  }

  /**
   * Resolve a push-down: the oracle names the surviving verse, the others collapse (worlds destroyed,
   * balances evaporated into the WEV), and a `verse_resolutions` row is written.
   */
  async pullUp(event: string, options: PullUpOptions): Promise<PullUpResult> {
    this.ensureOpen();
    const result = await this.verseBook.pullUp(event, options);
    this.changes.emit({ type: 'pullUp', result });
    return result;
  }

  /** The verse worlds of one push-down event this runtime made. */
  verses(event: string): VerseWorld[] {
    return this.verseBook.eventVerses(event);
  }

  /**
   * Every push-down event the ledger holds, oldest first: this runtime's own (`live`, with their worlds) and
   * those of runtimes opened earlier on the same home (not live: their worlds as the record last saw them).
   */
  events(): Promise<VerseEvent[]> {
    this.ensureOpen();
    return readEvents(this.ledger, (e) => this.verseBook.held(e), this.record);
  }

  /** One push-down event, live or not. @throws LedgerError `UNKNOWN_EVENT` when the ledger has no such event. */
  async event(id: string): Promise<VerseEvent> {
    this.ensureOpen();
    return (await readEvents(this.ledger, (e) => this.verseBook.held(e), this.record, id))[0] as VerseEvent;
  }

  /**
   * Hear what changes, as it happens: worlds and snapshots made or ended, push-downs, pull-ups, execs, ledger
   * operations (see `RuntimeChange`). Returns the function that stops listening.
   */
  onChange(listener: ChangeListener): () => void {
    return this.changes.on(listener);
  }

  /** The live worlds (running or failed, not destroyed). */
  worlds(): World[] {
    return [...this.liveWorlds.values()];
  }

  snapshots(): Snapshot[] {
    return [...this.liveSnapshots.values()];
  }

  world(id: string): World {
    const w = this.liveWorlds.get(id);
    if (!w) throw new WorldNotFoundError(id);
    return w;
  }

  snapshot(id: string): Snapshot {
    const s = this.liveSnapshots.get(id);
    if (!s) throw new SnapshotNotFoundError(id);
    return s;
  }

  /**
   * Bytes each world or snapshot uses, where the driver can tell: `diskBytes` what it wrote that still
   * exists (not what it inherited), `memoryBytes` its interpreter's resident memory. Null when unknown.
   */
  async usage(items: readonly (World | Snapshot)[]): Promise<Map<string, Usage>> {
    this.ensureOpen();
    const out = new Map<string, Usage>();
    const live = items.filter((x) => (x instanceof World ? x.state === 'running' : x.state === 'ready'));
    const u = this.driver.usage ? await this.driver.usage(live.map((x) => x.handle)) : {};
    for (const x of items) out.set(x.id, u[x.id] ?? { diskBytes: null, memoryBytes: null });
    return out;
  }

  /** What this machine supports: isolation, limits, drivers. */
  async doctor(): Promise<DoctorReport> {
    this.ensureOpen();
    return {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      home: this.home,
      drivers: [await this.driver.doctor()],
    };
  }

  /** Destroy every world and snapshot and release the driver. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.liveWorlds.values()) {
      if (w.state === 'running') this.recorder?.ended(w.id, 'destroyed');
      w.state = 'destroyed';
    }
    for (const s of this.liveSnapshots.values()) {
      this.recorder?.ended(s.id, 'destroyed');
      s.state = 'destroyed';
    }
    this.liveWorlds.clear();
    this.liveSnapshots.clear();
    try {
      await this.driver.close();
    } finally {
      await this.ledger.close();
      await this.record?.close();
    }
  }

  // WorldHost ---------------------------------------------------------------------------------

  /** @internal */
  ensureOpen(): void {
    if (this.closed) throw new RuntimeClosedError();
  }

  /** @internal */
  async snapshotWorld(world: World, name?: string): Promise<Snapshot> {
    const id = newId('s');
    const t0 = performance.now();
    const handle = await this.driver.snapshot(world.handle, id);
    const snap = new Snapshot(handle, this, world.id, name ?? null, performance.now() - t0, world.size);
    this.liveSnapshots.set(snap.id, snap);
    this.recorder?.snapshotted(snap);
    this.changes.emit({ type: 'snapshot', snapshot: snap });
    return snap;
  }

  /** @internal */
  async destroyWorld(world: World): Promise<void> {
    if (world.state === 'running') this.recorder?.ended(world.id, 'destroyed');
    world.state = 'destroyed';
    this.liveWorlds.delete(world.id);
    this.changes.emit({ type: 'world', world });
    await this.driver.destroyWorld(world.handle);
  }

  /** @internal */
  async destroySnapshot(snapshot: Snapshot): Promise<void> {
    this.recorder?.ended(snapshot.id, 'destroyed');
    snapshot.state = 'destroyed';
    this.liveSnapshots.delete(snapshot.id);
    this.changes.emit({ type: 'snapshot', snapshot });
    await this.driver.destroySnapshot(snapshot.handle);
  }

  /** @internal */
  executed(world: World, code: string, result: ExecResult): void {
    this.changes.emit({ type: 'exec', world, code, result });
  }

  /**
   * Snapshot a world and fork one verse world per child at the same instant: both requests are queued on the
   * world back to back, so nothing can run between them, and the verse worlds fork from the live world
   * (the snapshot's spares would not be ready yet).
   */
  private async splitWorld(
    world: World,
    snapshotName: string,
    children: readonly VerseChild[],
    event: string,
  ): Promise<{ snapshot: Snapshot; worlds: World[] }> {
    const ids = children.map(() => newId('v'));
    const t0 = performance.now();
    const snapshotting = this.snapshotWorld(world, snapshotName);
    const branching = this.driver.branch(world.handle, { ids, memoryMib: world.memoryMib, sameRandom: false });
    const [snap, handles] = await Promise.allSettled([snapshotting, branching]);
    if (snap.status === 'rejected' || handles.status === 'rejected') {
      if (snap.status === 'fulfilled') await snap.value.destroy();
      if (handles.status === 'fulfilled') await Promise.all(handles.value.map((h) => this.driver.destroyWorld(h)));
      throw snap.status === 'rejected' ? snap.reason : (handles as PromiseRejectedResult).reason;
    }
    const ms = performance.now() - t0;
    const snapshot = snap.value;
    const worlds = handles.value.map((h, i) => {
      const c = children[i] as VerseChild;
      const meta = { ...world.metadata, verse: c.name, trit: c.trit, event };
      return this.track(new World(h, this, world.id, snapshot.id, c.trit, meta, world.size, ms));
    });
    return { snapshot, worlds };
  }

  private async collapseWorld(world: World): Promise<void> {
    if (world.state === 'running') this.recorder?.ended(world.id, 'collapsed');
    world.state = 'collapsed';
    this.liveWorlds.delete(world.id);
    this.changes.emit({ type: 'world', world });
    await this.driver.destroyWorld(world.handle);
  }

  private track(world: World): World {
    this.liveWorlds.set(world.id, world);
    this.changes.emit({ type: 'world', world });
    return world;
  }

  private onWorldExit(id: string, reason: string): void {
    const w = this.liveWorlds.get(id);
    if (w && w.state === 'running') {
      w.state = 'failed';
      w.failure = reason;
      this.recorder?.ended(id, 'failed');
      this.changes.emit({ type: 'world', world: w });
    }
    const s = this.liveSnapshots.get(id);
    if (s) {
      this.recorder?.ended(id, 'failed');
      s.state = 'destroyed';
      this.liveSnapshots.delete(id);
      this.changes.emit({ type: 'snapshot', snapshot: s });
    }
  }
}

async function openDriver(opts: NormalOpenOptions): Promise<Driver> {
  switch (opts.driver) {
    case 'process':
      return ProcessDriver.open({
        home: opts.home,
        isolation: opts.isolation,
        fs: opts.fs,
        warn: opts.warn,
        pool: opts.pool,
      });
    case 'microvm': {
      // Loaded on demand: the process driver's users never pay for QEMU plumbing.
      const { MicrovmDriver } = await import('../drivers/microvm/index.js');
      return new MicrovmDriver({ ...opts.microvm, home: opts.home, onProgress: (m) => opts.warn(`world-runtime microvm: ${m}`) });
    }
    case 'e2b': {
      // Loaded on demand: only its users load the E2B SDKs.
      const { E2bDriver } = await import('../drivers/e2b/index.js').catch((err: NodeJS.ErrnoException) => {
        if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
        throw new DriverError(`driver 'e2b' needs the npm packages e2b and @e2b/code-interpreter (npm install e2b @e2b/code-interpreter): ${err.message}`, err);
      });
      return new E2bDriver(opts.e2b);
    }
    case 'morph': {
      const { openMorphDriver } = await import('../drivers/morph/index.js');
      return openMorphDriver(opts.morph);
    }
  }
}
