/**
 * @module
 * The process driver (embedded default; docs/process-driver.md): a world is a single-threaded Python agent
 * process; a snapshot is a frozen fork of it; a branch is a fork of a snapshot or of a running world. Each
 * is its own trust domain (docs/security.md), made by its tree's keeper (agent/keeper.py).
 *
 * Two pools keep forks and cold starts off the caller's path (as Infinibranch keeps pre-warmed VMs): each
 * snapshot keeps a few spares, fully born branches that a branch only has to activate, and the driver keeps
 * a started tree with a spare world that the next `create` takes. Both can be turned off (size 0).
 */
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError, InvalidArgumentError, RuntimeClosedError, SnapshotNotFoundError, WorldFailedError, WorldNotFoundError } from '../../base/errors.js';
import { DEFAULT_DISK_MIB } from '../../base/limits.js';
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
import { type AgentConnection, AgentRequestError, ControlServer } from './control.js';
import type { FsChoice } from './fs.js';
import { UID_COUNT } from './isolation.js';
import { type PoolSizes, type PoolState, type ProcessDriverOptions, poolSizes } from './options.js';
import { SPARE_LIMITS, startSpareTree, TreePool } from './pools.js';
import { Proc, toDriverError, usageOf } from './proc.js';
import { doctorReport } from './report.js';
import { type Home, prepareHome, releaseHome } from './setup.js';
import { type Birth, Tree, type TreeConfig } from './tree.js';

export type { PoolSizes, PoolState, ProcessDriverOptions } from './options.js';

const AGENT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../agent');
/** How long destroy waits for a keeper to end a world before ending its whole tree. */
const KILL_TIMEOUT_MS = 15_000;
/** How long a world's lost connection waits for its keeper to say why the world ended. */
const REASON_WAIT_MS = 1000;

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DriverError(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class ProcessDriver implements Driver {
  readonly name = 'process';
  private readonly procs = new Map<string, Proc>();
  /** Worlds and snapshots that died on their own, by id: what a call with their handle is told. */
  private readonly failed = new Map<string, Proc>();
  private readonly byKey = new Map<string, Proc>();
  private readonly trees = new Set<Tree>();
  private readonly pool: TreePool;
  private closed = false;
  private closing?: Promise<void>;
  private readonly stop = new AbortController();
  /** Trees `create` is starting, which close() aborts and waits for. */
  private readonly starting = new Set<Promise<Tree>>();
  private readonly listeners = new Set<WorldExitListener>();

  private constructor(
    private readonly control: ControlServer,
    /** What opening the home settled: isolation, filesystem, Python, this runtime's folders and cgroups. */
    private readonly home: Home,
    private readonly opts: Required<Pick<ProcessDriverOptions, 'interruptGraceMs' | 'warn'>> & { pool: PoolSizes },
  ) {
    this.pool = new TreePool(opts.pool.worlds, (signal) => startSpareTree(this.treeConfig(), signal), opts.warn);
  }

  private get fs(): FsChoice {
    return this.home.fs;
  }

  static async open(options: ProcessDriverOptions): Promise<ProcessDriver> {
    const warn = options.warn ?? ((m: string) => console.warn(m));
    const h = prepareHome(options.home, { isolation: options.isolation, fs: options.fs, python: options.python, agentDir: AGENT_DIR, warn });
    const control = await ControlServer.listen(join(h.runDir, 'ctl.sock'), options.maxLineBytes);
    return new ProcessDriver(control, h, {
      interruptGraceMs: options.interruptGraceMs ?? 2000,
      pool: poolSizes(options.pool, { worlds: 1, branchesPerSnapshot: 2 }),
      warn,
    });
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listeners.add(listener);
  }

  async create(options: DriverCreateOptions): Promise<WorldHandle> {
    if (this.closed) throw new RuntimeClosedError();
    const opts = { ...options, diskMib: options.diskMib ?? DEFAULT_DISK_MIB };
    const spare = await this.pool.take();
    if (spare && this.closed) await spare.tree.end().catch(() => {});
    if (this.closed) throw new RuntimeClosedError();
    if (spare) {
      this.trees.add(spare.tree);
      this.watch(spare.tree);
      try {
        if (opts.memoryMib !== SPARE_LIMITS.memoryMib || opts.diskMib !== SPARE_LIMITS.diskMib) {
          await spare.tree.limits(spare.key, { memoryMib: opts.memoryMib, diskMib: opts.diskMib });
        }
        await spare.conn.request('activate', { memoryMib: opts.memoryMib, sameRandom: false });
        return this.adopt(opts.id, spare.key, Promise.resolve(spare.conn), spare.tree, opts.memoryMib, opts.diskMib);
      } catch {
        await spare.tree.end().catch(() => {}); // a broken spare: fall through to a cold start
        this.trees.delete(spare.tree);
      }
    }
    // close() aborts a start in flight (ending all the keeper started) and waits for it.
    const starting = this.startTree();
    this.starting.add(starting);
    const tree = await starting.finally(() => this.starting.delete(starting));
    this.trees.add(tree);
    this.watch(tree);
    const { token, connection } = this.control.expect();
    try {
      await tree.spawn({ id: opts.id, role: 'world', token, memoryMib: opts.memoryMib, diskMib: opts.diskMib });
      const conn = await connection;
      if (this.closed) throw new RuntimeClosedError();
      return this.adopt(opts.id, opts.id, Promise.resolve(conn), tree, opts.memoryMib, opts.diskMib);
    } catch (err) {
      this.control.cancel(token, err as Error);
      await this.endTreeIfEmpty(tree);
      throw this.closed ? new RuntimeClosedError() : toDriverError(err);
    }
  }

  async exec(world: WorldHandle, code: string, opts: ExecOptions): Promise<ExecResult> {
    const p = this.proc(world);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const onEvent = outputEvents(opts.onOutput);
    return this.serial(p, async (conn) => {
      let interrupted = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        interrupted = true;
        void p.tree.signal(p.key, 'SIGINT');
        // A world that ignores the interrupt is killed: it is marked failed and the request rejects.
        graceTimer = setTimeout(
          () => void this.kill(p, `exec did not stop within ${this.opts.interruptGraceMs} ms of its ${timeoutMs} ms timeout; the world was killed`),
          this.opts.interruptGraceMs,
        );
      }, timeoutMs);
      try {
        const r = decodeExecResult(await this.request(p, conn, 'exec', { code, stream: onEvent !== undefined }, onEvent), p.id);
        if (interrupted && r.error?.type === 'Interrupted') {
          r.error = { ...r.error, type: 'TimeoutError', message: `exec exceeded its timeout of ${timeoutMs} ms and was interrupted` };
        }
        return r;
      } finally {
        clearTimeout(timer);
        clearTimeout(graceTimer);
      }
    });
  }

  async run(world: WorldHandle, command: string | string[], opts: RunOptions): Promise<RunResult> {
    const p = this.proc(world);
    if (Array.isArray(command) && command.length === 0) throw new InvalidArgumentError('run: the argv array is empty');
    const onEvent = outputEvents(opts.onOutput);
    const args = { argv: command, cwd: opts.cwd, env: opts.env, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, stream: onEvent !== undefined };
    return this.serial(p, async (conn) => decodeRunResult(await this.request(p, conn, 'run', args, onEvent), p.id));
  }

  async writeFile(world: WorldHandle, path: string, data: Uint8Array): Promise<void> {
    const p = this.proc(world);
    return this.serial(p, (conn) => writeWorldFile((op, args) => this.request(p, conn, op, args), path, data));
  }

  async readFile(world: WorldHandle, path: string): Promise<Uint8Array> {
    const p = this.proc(world);
    return this.serial(p, (conn) => readWorldFile((op, args, onEvent, budget) => this.request(p, conn, op, args, onEvent, budget), path, p.id));
  }

  /** Resolves at the fork itself: the frozen copy exists from then on, and connects in the background. */
  async snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle> {
    const p = this.proc(world);
    return this.serial(p, async (conn) => {
      const { token, connection, arm } = this.control.expect(undefined, true);
      try {
        await this.prepareAndFork(p, conn, [{ id, role: 'snapshot', token, memoryMib: p.memoryMib }], {
          role: 'snapshot',
          refreshOwn: this.fs.kind === 'overlay',
        });
        arm();
      } catch (err) {
        this.control.cancel(token, err as Error);
        await p.tree.kill([id], true).catch(() => {});
        throw toDriverError(err, p);
      }
      const snap = this.adopt(id, id, connection, p.tree, p.memoryMib, p.diskMib, 'snapshot');
      connection.then(
        () => this.refillSpares(snap),
        () => {},
      );
      return snap;
    });
  }

  async branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]> {
    const p = this.proc(source, 'snapshot');
    const taken = p.spares.splice(0, opts.ids.length);
    const fromSpares = taken.map(async (s, i) => {
      await s.conn.request('activate', { sameRandom: opts.sameRandom }); // its limits are its snapshot's
      return this.adopt(opts.ids[i] as string, s.key, Promise.resolve(s.conn), p.tree, p.memoryMib, p.diskMib);
    });
    const rest = opts.ids.slice(taken.length);
    const forked =
      rest.length === 0
        ? Promise.resolve([])
        : this.forkChildren(p, rest, 'world', opts.sameRandom).then((conns) =>
            conns.map((c, i) => this.adopt(rest[i] as string, rest[i] as string, Promise.resolve(c), p.tree, p.memoryMib, p.diskMib)),
          );
    const settled = await Promise.allSettled([...fromSpares, forked]);
    const worlds = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      // All or nothing: a partial branch would leave worlds the caller never hears of.
      await Promise.all(worlds.map((w) => this.destroyWorld(w)));
      throw this.closed ? new RuntimeClosedError() : toDriverError((failed as PromiseRejectedResult).reason);
    }
    if (taken.length > 0) setImmediate(() => this.refillSpares(p));
    return worlds;
  }

  async destroyWorld(world: WorldHandle): Promise<void> {
    this.failed.delete(world?.id);
    const p = this.procs.get(world?.id);
    if (p) await this.kill(p);
  }

  async destroySnapshot(snapshot: SnapshotHandle): Promise<void> {
    await this.destroyWorld(snapshot);
  }

  /** The pools' sizes, and how many spares are ready now: for `create`, and for `snapshot` when given. */
  poolState(snapshot?: SnapshotHandle): PoolState {
    const readyBranches = snapshot ? (this.procs.get(snapshot.id)?.spares.length ?? 0) : 0;
    return { ...this.opts.pool, readyWorlds: this.pool.readyCount, readyBranches };
  }

  /**
   * Resize the pools while the driver runs (0 turns one off), e.g. to measure cold starts on worlds already
   * made. Spares beyond a new size are ended before this resolves; missing ones are born in the background.
   */
  async setPool(sizes: Partial<PoolSizes>): Promise<void> {
    if (this.closed) throw new RuntimeClosedError();
    const next = poolSizes(sizes, this.opts.pool);
    this.opts.pool = next;
    const ends: Promise<void>[] = [this.pool.resize(next.worlds)];
    for (const p of this.procs.values()) {
      if (p.kind !== 'snapshot') continue;
      if (p.spares.length > next.branchesPerSnapshot) ends.push(p.endSpares(next.branchesPerSnapshot));
      else this.refillSpares(p);
    }
    await Promise.all(ends);
  }

  /**
   * Resolves once a snapshot's (or world's) own process has connected: a snapshot resolves at its fork and
   * connects after. Rejects with why it never did (WorldFailedError), or WorldNotFoundError.
   */
  async whenConnected(handle: WorldHandle | SnapshotHandle): Promise<void> {
    const p = this.proc(handle, handle instanceof Proc ? handle.kind : 'snapshot');
    await p.ready.catch((err: Error) => Promise.reject(new WorldFailedError(p.id, err.message)));
  }

  /** Bytes of disk (what each wrote that still exists) and memory each world or snapshot uses, when known. */
  async usage(handles: readonly (WorldHandle | SnapshotHandle)[]): Promise<Record<string, { diskBytes: number | null; memoryBytes: number | null }>> {
    if (this.closed) throw new RuntimeClosedError();
    return usageOf(handles.flatMap((h) => this.procs.get(h.id) ?? []));
  }

  async doctor(): Promise<DriverReport> {
    if (this.closed) throw new RuntimeClosedError();
    const h = this.home;
    return doctorReport({ python: h.python, isolation: h.isolation, fs: h.fs, cgroups: h.cgroups !== undefined, uidBase: h.uidBase, pool: this.opts.pool, sweep: h.sweep });
  }

  /** Ends every world, snapshot and spare, and removes this runtime's folders. A second call waits for the first. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    for (const p of this.procs.values()) p.ending = true;
    await Promise.all([this.pool.close(), Promise.allSettled(this.starting), ...[...this.trees].map((t) => t.end().catch(() => {}))]);
    this.trees.clear();
    this.procs.clear();
    this.failed.clear();
    this.byKey.clear();
    await this.control.close();
    releaseHome(this.home, AGENT_DIR, this.opts.warn);
  }

  // ---------------------------------------------------------------------------------------------

  /** A started tree for `create`; RuntimeClosedError (and nothing of it left) once close() has begun. */
  private async startTree(): Promise<Tree> {
    const tree = await Tree.start(`t-${randomBytes(5).toString('hex')}`, this.treeConfig(), this.stop.signal).catch((err) =>
      Promise.reject(this.closed ? new RuntimeClosedError() : err),
    );
    if (!this.closed) return tree;
    await tree.end().catch(() => {}); // started as close() began: not among the trees it ends
    throw new RuntimeClosedError();
  }

  private treeConfig(): TreeConfig {
    const { isolation, fs, layersDir, cgroups, python, uidBase, runtimeId } = this.home;
    const extraRo = python.startsWith('/usr/') ? [] : [dirname(dirname(python))];
    const keeperPath = join(AGENT_DIR, 'keeper.py');
    return { control: this.control, isolation, fs, layersDir, cgroups, python, keeperPath, uidBase, uidCount: UID_COUNT, extraRo, runtimeId };
  }

  private watch(tree: Tree): void {
    tree.onExit((key, reason) => {
      const p = this.byKey.get(key);
      if (p && !p.ending) {
        p.fail(reason);
        p.conn?.close();
      }
    });
    tree.keeper.once('close', () => {
      // The keeper is gone, and the kernel ended its pid namespace with it: every world of the tree is.
      for (const p of [...this.procs.values()]) if (p.tree === tree && !p.ending) p.fail("its tree's keeper exited");
    });
  }

  /**
   * The live world or snapshot behind a handle. A handle this driver made says which kind it was; any other
   * unknown handle is taken for a world, or (`source` of a branch) for a snapshot.
   */
  private proc(h: WorldHandle | SnapshotHandle, unknownIs: 'world' | 'snapshot' = 'world'): Proc {
    if (this.closed) throw new RuntimeClosedError();
    const p = this.procs.get(h?.id);
    if (p) return p;
    const dead = this.failed.get(h?.id);
    if (dead) throw new WorldFailedError(dead.id, dead.failure ?? 'it ended');
    const kind = h instanceof Proc ? h.kind : unknownIs;
    throw kind === 'snapshot' ? new SnapshotNotFoundError(String(h?.id)) : new WorldNotFoundError(String(h?.id));
  }

  /** Tell every listener of an exit nobody asked for; one that throws does not keep it from the others. */
  private tellExit(id: string, reason: string): void {
    if (this.closed) return; // close() asked every world to end
    for (const l of this.listeners) {
      try {
        l(id, reason);
      } catch (err) {
        this.opts.warn(`world-runtime: a world-exit listener threw: ${(err as Error).message}`);
      }
    }
  }

  private adopt(
    id: string,
    key: string,
    ready: Promise<AgentConnection>,
    tree: Tree,
    memoryMib: number,
    diskMib: number,
    kind: 'world' | 'snapshot' = 'world',
  ): Proc {
    const p = new Proc(id, key, ready, tree, '/world', memoryMib, diskMib, kind);
    this.procs.set(id, p);
    this.byKey.set(key, p);
    tree.members.add(id);
    ready.then(
      (conn) =>
        conn.once('close', () => {
          if (p.ending) {
            this.forget(p);
            return;
          }
          if (conn.failure) {
            p.fail(conn.failure);
            void this.kill(p, conn.failure);
          }
          // The keeper sees the same death through the agent's pidfd and says why (the OOM killer, ...).
          void Promise.race([p.exited, delay(REASON_WAIT_MS)]).then(() => {
            p.fail('its process exited unexpectedly');
            this.forget(p);
            if (!p.ending) this.tellExit(id, p.failure as string);
          });
        }),
      (err: Error) => {
        p.fail(err.message);
        this.forget(p);
        if (!p.ending) this.tellExit(id, err.message);
      },
    );
    return p;
  }

  /**
   * Ask `p` to fork one child per id (their keeper names are the ids); resolves with their connections.
   * Only the request holds `p`'s queue: waiting for the children happens outside it.
   */
  private async forkChildren(p: Proc, keys: string[], role: 'world' | 'spare', sameRandom: boolean): Promise<AgentConnection[]> {
    const waits = keys.map(() => this.control.expect(undefined, true));
    const births: Birth[] = keys.map((key, i) => ({ id: key, role, token: (waits[i] as { token: string }).token, memoryMib: p.memoryMib, diskMib: p.diskMib }));
    try {
      await this.serial(p, async (conn) => {
        const live = conn.role !== 'snapshot'; // an activated spare says 'spare': it is a world now
        await this.prepareAndFork(p, conn, births, { role, sameRandom, refreshOwn: live && this.fs.kind === 'overlay' });
      });
      for (const w of waits) w.arm();
    } catch (err) {
      for (const w of waits) this.control.cancel(w.token, err as Error);
      await p.tree.kill(keys, true).catch(() => {});
      throw err;
    }
    return Promise.all(waits.map((w) => w.connection));
  }

  /**
   * The keeper's `prepare` and the parent's `fork`, side by side: the parent is held (its queue) until both
   * answer, so nothing runs in it between its fork and the keeper's snapshot of its files. Without a
   * sandbox a child's home is the keeper's to say, so they go one after the other.
   */
  private async prepareAndFork(p: Proc, conn: AgentConnection, births: Birth[], fork: Record<string, unknown>): Promise<void> {
    if (this.home.isolation.kind === 'none') {
      const born = await p.tree.prepare(p.key, births);
      await this.request(p, conn, 'fork', { ...fork, births: born });
      return;
    }
    const prepared = p.tree.prepare(p.key, births);
    const forked = this.request(p, conn, 'fork', { ...fork, births: p.tree.planned(births) });
    const [a, b] = await Promise.allSettled([prepared, forked]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
  }

  /** Top a snapshot's pre-born spares back up, in the background. */
  private refillSpares(p: Proc): void {
    p.refillSpares(
      () => (this.closed ? 0 : this.opts.pool.branchesPerSnapshot),
      () => !this.closed && this.procs.get(p.id) === p,
      (keys) => this.forkChildren(p, keys, 'spare', false),
    );
  }

  private serial<T>(p: Proc, fn: (conn: AgentConnection) => Promise<T>): Promise<T> {
    const run = async () => fn(await p.ready.catch((err) => Promise.reject(toDriverError(err, p))));
    const next = p.queue.then(run, run);
    p.queue = next.catch(() => {});
    return next;
  }

  private async request(
    p: Proc,
    conn: AgentConnection,
    op: string,
    args: Record<string, unknown>,
    onEvent?: (ev: string, data: string) => void,
    budget?: number,
  ): Promise<Record<string, unknown>> {
    try {
      return await conn.request(op, args, onEvent, budget);
    } catch (err) {
      if (err instanceof AgentRequestError && err.code === 'GONE' && !p.ending) await Promise.race([p.exited, delay(REASON_WAIT_MS)]);
      throw toDriverError(err, p);
    }
  }

  /** End a world or snapshot (and a snapshot's spares); `reason` marks it failed. Always resolves. */
  private async kill(p: Proc, reason?: string): Promise<void> {
    if (reason) p.fail(reason);
    else p.ending = true;
    const keys = [p.key, ...p.spares.splice(0).map((s) => s.key)];
    try {
      await withTimeout(p.tree.kill(keys, true), KILL_TIMEOUT_MS, `ending ${p.id}`);
    } catch (err) {
      // The keeper did not answer: end the whole tree, which the kernel cannot refuse.
      this.opts.warn(`world-runtime: ${(err as Error).message}; ending its fork tree`);
      await p.tree.end().catch(() => {});
    }
    this.forget(p);
  }

  private forget(p: Proc): void {
    if (this.procs.get(p.id) !== p) return;
    this.procs.delete(p.id);
    // A world that died on its own stays known as failed until it is destroyed.
    if (!p.ending && p.failure !== undefined && !this.closed) this.failed.set(p.id, p);
    this.byKey.delete(p.key);
    p.tree.members.delete(p.id);
    void p.endSpares(0);
    void this.endTreeIfEmpty(p.tree);
  }

  private async endTreeIfEmpty(tree: Tree): Promise<void> {
    if (tree.members.size > 0 || !this.trees.has(tree)) return;
    this.trees.delete(tree);
    await tree.end().catch(() => {});
  }
}
