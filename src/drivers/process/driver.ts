/**
 * @module
 * The process driver (embedded default, DESIGN §5): a world is a single-threaded Python agent process;
 * a snapshot is a frozen fork of it; a branch is a fork of a snapshot or of a running world.
 *
 * Two pools keep forks and cold starts off the caller's path (as Infinibranch keeps pre-warmed VMs):
 * each snapshot keeps a few pre-forked spares that a branch only has to name, and the driver keeps a
 * started sandbox with a spare world that the next `create` takes. Both can be turned off (size 0).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError, FileNotFoundError, ForkRefusedError, InvalidArgumentError, WorldFailedError } from '../../core/errors.js';
import type { ExecOptions, ExecResult, Isolation, RunOptions, RunResult } from '../../core/types.js';
import type { Driver, DriverBranchOptions, DriverCreateOptions, DriverReport, SnapshotHandle, WorldExitListener, WorldHandle } from '../driver.js';
import { PidsCgroups } from './cgroup.js';
import { type AgentConnection, AgentRequestError, ControlServer } from './control.js';
import { type IsolationChoice, chooseIsolation } from './isolation.js';
import { Proc } from './proc.js';
import { Tree, type TreeConfig } from './tree.js';

export interface ProcessDriverOptions {
  /** State directory; worlds' files live under `<home>/worlds`. */
  home: string;
  isolation?: Isolation;
  /** Python interpreter for the agent. @default $WORLD_RUNTIME_PYTHON, else /usr/bin/python3, else python3 on PATH */
  python?: string;
  /** Processes one fork tree may hold (cgroup v1 pids controller, where writable). @default 512 */
  maxPidsPerTree?: number;
  /** Grace after an interrupt before a world that will not stop is killed. @default 2000 */
  interruptGraceMs?: number;
  /** Started sandboxes kept ready for `create` (0: every create is a cold start). @default 1 */
  spareTrees?: number;
  /** Pre-forked branches each snapshot keeps ready (0: every branch forks on the spot). @default 2 */
  sparesPerSnapshot?: number;
  /** Where warnings go (no bubblewrap, ...). @default console.warn */
  warn?: (msg: string) => void;
}

const AGENT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../agent');
const DEFAULT_TIMEOUT_MS = 300_000;

function findPython(explicit?: string): string {
  const wanted = explicit ?? process.env.WORLD_RUNTIME_PYTHON;
  if (wanted) return wanted;
  // A version manager's shim adds ~100 ms per start; the system interpreter also lives under the /usr the
  // sandbox shows read-only.
  if (existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  } catch {
    throw new DriverError('no python3 found: install python3 or set WORLD_RUNTIME_PYTHON');
  }
}

interface SpareTree {
  tree: Tree;
  conn: AgentConnection;
}

export class ProcessDriver implements Driver {
  readonly name = 'process';
  private readonly procs = new Map<string, Proc>();
  private readonly trees = new Set<Tree>();
  private readonly spareTrees: SpareTree[] = [];
  private treeStarts: Promise<void>[] = [];
  private closed = false;
  private listener: WorldExitListener = () => {};

  private constructor(
    private readonly control: ControlServer,
    private readonly isolation: IsolationChoice,
    private readonly cgroups: PidsCgroups | undefined,
    private readonly runDir: string,
    private readonly worldsDir: string,
    private readonly python: string,
    private readonly opts: Required<Pick<ProcessDriverOptions, 'maxPidsPerTree' | 'interruptGraceMs' | 'spareTrees' | 'sparesPerSnapshot' | 'warn'>>,
  ) {
    this.refillTrees();
  }

  static async open(options: ProcessDriverOptions): Promise<ProcessDriver> {
    const warn = options.warn ?? ((m: string) => console.warn(m));
    const isolation = chooseIsolation(options.isolation ?? 'auto', warn);
    const python = findPython(options.python);
    const runtimeId = `${process.pid}-${randomBytes(4).toString('hex')}`;
    // A unix socket path may hold at most 107 bytes; fall back to a short temp dir for deep homes.
    let runDir = join(options.home, 'run', runtimeId);
    if (join(runDir, 'ctl.sock').length > 100) runDir = mkdtempSync(join(tmpdir(), 'wr-'));
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const worldsDir = join(options.home, 'worlds', runtimeId);
    mkdirSync(worldsDir, { recursive: true });
    PidsCgroups.sweep();
    const cgroups = PidsCgroups.open(runtimeId);
    const control = await ControlServer.listen(join(runDir, 'ctl.sock'));
    return new ProcessDriver(control, isolation, cgroups, runDir, worldsDir, python, {
      maxPidsPerTree: options.maxPidsPerTree ?? 512,
      interruptGraceMs: options.interruptGraceMs ?? 2000,
      spareTrees: options.spareTrees ?? 1,
      sparesPerSnapshot: options.sparesPerSnapshot ?? 2,
      warn,
    });
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listener = listener;
  }

  async create(opts: DriverCreateOptions): Promise<WorldHandle> {
    // A spare already on its way is sooner than a second cold start competing with it for the CPU.
    if (this.spareTrees.length === 0 && this.treeStarts.length > 0) await Promise.race(this.treeStarts);
    const spare = this.spareTrees.shift();
    if (spare) {
      this.refillTrees();
      const home = join(spare.tree.dir, opts.id);
      try {
        await spare.conn.request('activate', { home, memoryMib: opts.memoryMib, sameRandom: false });
        return this.adopt(opts.id, Promise.resolve(spare.conn), spare.tree, home);
      } catch {
        await spare.tree.end(); // a broken spare: fall through to a cold start
      }
    }
    const tree = await Tree.start(`t-${randomBytes(5).toString('hex')}`, this.treeConfig());
    this.trees.add(tree);
    const home = join(tree.dir, opts.id);
    const { token, connection } = this.control.expect();
    try {
      await tree.keeper.request('spawn', { token, home, memoryMib: opts.memoryMib });
      return this.adopt(opts.id, Promise.resolve(await connection), tree, home);
    } catch (err) {
      this.control.cancel(token, err as Error);
      await this.endTreeIfEmpty(tree);
      throw toDriverError(err);
    }
  }

  exec(world: WorldHandle, code: string, opts: ExecOptions): Promise<ExecResult> {
    const p = this.proc(world);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const onEvent = opts.onOutput ? (ev: string, data: string) => opts.onOutput?.(ev as 'stdout' | 'stderr', data) : undefined;
    return this.serial(p, async (conn) => {
      let interrupted = false;
      let graceTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        interrupted = true;
        void p.tree.signal(conn.pid, 'SIGINT');
        // A world that ignores the interrupt is killed: it is marked failed and the request rejects.
        graceTimer = setTimeout(() => void this.kill(p, `exec did not stop within ${this.opts.interruptGraceMs} ms of its ${timeoutMs} ms timeout; the world was killed`), this.opts.interruptGraceMs);
      }, timeoutMs);
      try {
        const r = (await this.request(p, conn, 'exec', { code, stream: onEvent !== undefined }, onEvent)) as unknown as ExecResult;
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

  run(world: WorldHandle, command: string | string[], opts: RunOptions): Promise<RunResult> {
    const p = this.proc(world);
    if (Array.isArray(command) && command.length === 0) throw new InvalidArgumentError('run: the argv array is empty');
    const onEvent = opts.onOutput ? (ev: string, data: string) => opts.onOutput?.(ev as 'stdout' | 'stderr', data) : undefined;
    const args = { argv: command, cwd: opts.cwd, env: opts.env, timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, stream: onEvent !== undefined };
    return this.serial(p, async (conn) => (await this.request(p, conn, 'run', args, onEvent)) as unknown as RunResult);
  }

  writeFile(world: WorldHandle, path: string, data: Uint8Array): Promise<void> {
    const p = this.proc(world);
    return this.serial(p, async (conn) => {
      await this.request(p, conn, 'write_file', { path, data: Buffer.from(data).toString('base64') });
    });
  }

  readFile(world: WorldHandle, path: string): Promise<Uint8Array> {
    const p = this.proc(world);
    return this.serial(p, async (conn) => {
      const r = await this.request(p, conn, 'read_file', { path });
      return new Uint8Array(Buffer.from(String(r.data), 'base64'));
    });
  }

  /** Resolves at the fork itself: the frozen copy exists from then on, and connects in the background. */
  snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle> {
    const p = this.proc(world);
    return this.serial(p, async (conn) => {
      const home = join(p.tree.dir, id);
      const { token, connection } = this.control.expect();
      try {
        await this.request(p, conn, 'snapshot', { token, home });
      } catch (err) {
        this.control.cancel(token, err as Error);
        rmSync(home, { recursive: true, force: true });
        throw err;
      }
      p.expectChild(connection);
      const snap = this.adopt(id, connection, p.tree, home);
      connection.then(() => this.refillSpares(snap), () => {});
      return snap;
    });
  }

  async branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]> {
    const p = this.proc(source);
    const homes = opts.ids.map((id) => join(p.tree.dir, id));
    const taken = p.spares.splice(0, opts.ids.length);
    const fromSpares = taken.map(async (conn, i) => {
      await conn.request('activate', { home: homes[i], src: p.home, sameRandom: opts.sameRandom });
      return this.adopt(opts.ids[i] as string, Promise.resolve(conn), p.tree, homes[i] as string);
    });
    const rest = opts.ids.length - taken.length;
    const forked = rest === 0 ? Promise.resolve([]) : this.fork(p, opts.ids.slice(taken.length), homes.slice(taken.length), opts.sameRandom);
    const settled = await Promise.allSettled([...fromSpares, forked]);
    const worlds = settled.flatMap((s) => (s.status === 'fulfilled' ? s.value : []));
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) {
      // All or nothing: a partial branch would leave worlds the caller never hears of.
      await Promise.all(worlds.map((w) => this.destroyWorld(w)));
      throw toDriverError((failed as PromiseRejectedResult).reason);
    }
    if (taken.length > 0) setImmediate(() => this.refillSpares(p));
    return worlds;
  }

  async destroyWorld(world: WorldHandle): Promise<void> {
    const p = this.procs.get(world.id);
    if (p) await this.kill(p);
  }

  async destroySnapshot(snapshot: SnapshotHandle): Promise<void> {
    await this.destroyWorld(snapshot);
  }

  async doctor(): Promise<DriverReport> {
    let pythonVersion = 'unknown';
    try {
      pythonVersion = execFileSync(this.python, ['-I', '-S', '-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim();
    } catch {}
    return {
      driver: 'process',
      available: true,
      isolation: this.isolation.kind,
      python: this.python,
      pythonVersion,
      pidsLimit: this.cgroups ? this.opts.maxPidsPerTree : null,
      pools: { spareTrees: this.opts.spareTrees, sparesPerSnapshot: this.opts.sparesPerSnapshot },
      notes: [
        `isolation: ${this.isolation.kind} (${this.isolation.reason})`,
        isolationNote(this.isolation),
        `python: ${this.python} ${pythonVersion}`,
        this.cgroups
          ? `process limit: ${this.opts.maxPidsPerTree} per fork tree (cgroup v1 pids)`
          : 'process limit: none (cgroup v1 pids controller not writable here): a fork bomb can exhaust host pids',
        'memory limit: per world, memoryMib of address space above the interpreter baseline (RLIMIT_AS)',
        `pools: ${this.opts.spareTrees} started sandbox(es) for create, ${this.opts.sparesPerSnapshot} pre-forked branch(es) per snapshot`,
      ],
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.procs.values()) p.ending = true;
    const spares = this.spareTrees.splice(0).map((s) => s.tree);
    await Promise.all([...this.trees, ...spares].map((t) => t.end()));
    this.trees.clear();
    this.procs.clear();
    await this.control.close();
    this.cgroups?.removeAll();
    rmSync(this.runDir, { recursive: true, force: true });
    rmSync(this.worldsDir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------------------------------------

  private treeConfig(): TreeConfig {
    return {
      control: this.control,
      isolation: this.isolation,
      cgroups: this.cgroups,
      maxPids: this.opts.maxPidsPerTree,
      python: this.python,
      agentPath: join(AGENT_DIR, 'agent.py'),
      agentDir: AGENT_DIR,
      socketDir: this.runDir,
      worldsDir: this.worldsDir,
    };
  }

  private proc(h: WorldHandle | SnapshotHandle): Proc {
    const p = this.procs.get(h.id);
    if (!p) throw new DriverError(`process driver has no world or snapshot ${h.id}`);
    return p;
  }

  private adopt(id: string, ready: Promise<AgentConnection>, tree: Tree, home: string): Proc {
    const p = new Proc(id, ready, tree, home);
    this.procs.set(id, p);
    tree.members.add(id);
    ready.then(
      (conn) =>
        conn.once('close', () => {
          this.forget(p);
          if (!p.ending) this.listener(id, p.failure ?? 'its process exited unexpectedly');
        }),
      (err: Error) => {
        this.forget(p);
        if (!p.ending) this.listener(id, err.message);
      },
    );
    return p;
  }

  /** Fork `ids.length` worlds from a world or snapshot on the spot. */
  private async fork(p: Proc, ids: string[], homes: string[], sameRandom: boolean): Promise<Proc[]> {
    const conns = await this.forkChildren(p, { homes, sameRandom });
    return conns.map((c, i) => this.adopt(ids[i] as string, Promise.resolve(c), p.tree, homes[i] as string));
  }

  /**
   * Ask `p` to fork; resolves with the children's connections. Only the request holds `p`'s queue: waiting for
   * the children to start happens outside it, so the next branch or refill is not held up behind them.
   */
  private async forkChildren(p: Proc, args: { homes?: string[]; sameRandom?: boolean; spare?: boolean; count?: number }): Promise<AgentConnection[]> {
    const n = args.homes?.length ?? args.count ?? 0;
    const waits = Array.from({ length: n }, () => this.control.expect());
    for (const w of waits) p.expectChild(w.connection);
    try {
      await this.serial(p, (conn) => this.request(p, conn, 'fork', { tokens: waits.map((w) => w.token), homes: args.homes, sameRandom: args.sameRandom, spare: args.spare }));
    } catch (err) {
      for (const w of waits) this.control.cancel(w.token, err as Error);
      throw err;
    }
    return Promise.all(waits.map((w) => w.connection));
  }

  /** Top a snapshot's pre-forked spares back up, in the background. */
  private refillSpares(p: Proc): void {
    const want = this.opts.sparesPerSnapshot - p.spares.length;
    if (want <= 0 || p.refilling || p.ending || this.closed || !this.procs.has(p.id)) return;
    p.refilling = true;
    void this.forkChildren(p, { spare: true, count: want })
      .then(async (conns) => {
        for (const c of conns) {
          if (p.ending || !this.procs.has(p.id)) {
            await p.tree.killSession(c.pid);
            continue;
          }
          p.spares.push(c);
          c.once('close', () => {
            const i = p.spares.indexOf(c);
            if (i >= 0) p.spares.splice(i, 1);
          });
        }
      })
      .catch(() => {}) // a failed refill only means the next branch forks on the spot
      .finally(() => {
        p.refilling = false;
        // Spares taken while this refill ran are replaced by the next one.
        if (p.spares.length < this.opts.sparesPerSnapshot) setImmediate(() => this.refillSpares(p));
      });
  }

  /** Keep `spareTrees` started sandboxes, each with a spare world, for the next creates. */
  private refillTrees(): void {
    while (!this.closed && this.spareTrees.length + this.treeStarts.length < this.opts.spareTrees) {
      const start: Promise<void> = (async () => {
        const tree = await Tree.start(`t-${randomBytes(5).toString('hex')}`, this.treeConfig());
        try {
          const { token, connection } = this.control.expect();
          await tree.keeper.request('spawn', { token, spare: true });
          const conn = await connection;
          if (this.closed) throw new DriverError('closed');
          this.trees.add(tree);
          const spare = { tree, conn };
          this.spareTrees.push(spare);
          conn.once('close', () => {
            const i = this.spareTrees.indexOf(spare);
            if (i >= 0) this.spareTrees.splice(i, 1);
          });
        } catch (err) {
          await tree.end();
          throw err;
        }
      })()
        .catch((err: Error) => {
          if (!this.closed) this.opts.warn(`world-runtime: could not start a spare sandbox: ${err.message}`);
        })
        .finally(() => {
          this.treeStarts = this.treeStarts.filter((p) => p !== start);
        });
      this.treeStarts.push(start);
    }
  }

  private serial<T>(p: Proc, fn: (conn: AgentConnection) => Promise<T>): Promise<T> {
    const run = async () => fn(await p.ready.catch((err) => Promise.reject(toDriverError(err, p))));
    const next = p.queue.then(run, run);
    p.queue = next.catch(() => {});
    return next;
  }

  private async request(p: Proc, conn: AgentConnection, op: string, args: Record<string, unknown>, onEvent?: (ev: string, data: string) => void): Promise<Record<string, unknown>> {
    try {
      return await conn.request(op, args, onEvent);
    } catch (err) {
      throw toDriverError(err, p);
    }
  }

  /** Kill a world or snapshot's whole session; `reason` marks it failed (reported through the listener). */
  private async kill(p: Proc, reason?: string): Promise<void> {
    if (reason) p.failure = reason;
    else p.ending = true;
    const conn = await p.ready.catch(() => undefined);
    if (!conn) return;
    // A child forked a moment ago joins its own session only when it starts: let it, or it dies with us.
    await Promise.all(p.unborn);
    for (const s of p.spares.splice(0)) await p.tree.killSession(s.pid);
    await p.tree.killSession(conn.pid);
    if (!conn.isClosed) await new Promise<void>((r) => conn.once('close', () => r()));
  }

  private forget(p: Proc): void {
    if (this.procs.get(p.id) !== p) return;
    this.procs.delete(p.id);
    p.tree.members.delete(p.id);
    for (const s of p.spares.splice(0)) void p.tree.killSession(s.pid);
    rmSync(p.home, { recursive: true, force: true });
    void this.endTreeIfEmpty(p.tree);
  }

  private async endTreeIfEmpty(tree: Tree): Promise<void> {
    if (tree.members.size > 0 || !this.trees.has(tree)) return;
    this.trees.delete(tree);
    await tree.end();
  }
}

function isolationNote(choice: IsolationChoice): string {
  switch (choice.kind) {
    case 'bwrap':
      return 'each fork tree: own user/pid/net/ipc/uts namespaces, read-only /usr, writes only to its own directory, no network, no capabilities';
    case 'unshare':
      return 'each fork tree: own pid/net/ipc/uts namespaces (no network), but the host filesystem is visible and writable';
    default:
      return 'worlds are NOT isolated: they run as this user with its files and network';
  }
}

function toDriverError(err: unknown, p?: Proc): Error {
  if (!(err instanceof AgentRequestError)) return err as Error;
  if (err.code === 'FORK_REFUSED') return new ForkRefusedError(err.message);
  if (err.code === 'NO_FILE') return new FileNotFoundError(err.message);
  if (err.code === 'PATH_OUTSIDE' || err.code === 'SPAWN') return new InvalidArgumentError(err.message, { agentCode: err.code });
  if (err.code === 'GONE' && p) return new WorldFailedError(p.id, p.failure ?? 'its process exited');
  return new DriverError(err.message, err);
}
