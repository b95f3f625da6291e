/**
 * @module
 * The process driver (embedded default, DESIGN §5): a world is a single-threaded Python agent process;
 * a snapshot is a frozen fork of it; a branch is a fork of a snapshot or of a running world.
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
import { Tree } from './tree.js';

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
  /** Where warnings go (no bubblewrap, ...). @default console.warn */
  warn?: (msg: string) => void;
}

const AGENT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../agent');
const DEFAULT_TIMEOUT_MS = 300_000;

/** A world or snapshot as the process driver knows it: its agent connection and its tree. */
class Proc implements WorldHandle, SnapshotHandle {
  /** Requests to one agent run one after another; a timeout starts when the request starts. */
  queue: Promise<unknown> = Promise.resolve();
  /** Set when the driver itself kills the process, so its disconnect is not reported as a crash. */
  ending = false;
  /** Why the driver killed it, when it did so because the world misbehaved. */
  failure?: string;
  constructor(readonly id: string, readonly conn: AgentConnection, readonly tree: Tree, readonly home: string) {}
}

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

export class ProcessDriver implements Driver {
  readonly name = 'process';
  private readonly procs = new Map<string, Proc>();
  private readonly trees = new Set<Tree>();
  private listener: WorldExitListener = () => {};

  private constructor(
    private readonly control: ControlServer,
    private readonly isolation: IsolationChoice,
    private readonly cgroups: PidsCgroups | undefined,
    private readonly runDir: string,
    private readonly worldsDir: string,
    private readonly python: string,
    private readonly opts: Required<Pick<ProcessDriverOptions, 'maxPidsPerTree' | 'interruptGraceMs'>>,
  ) {}

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
    });
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listener = listener;
  }

  async create(opts: DriverCreateOptions): Promise<WorldHandle> {
    const tree = await Tree.start(opts.id, {
      control: this.control,
      isolation: this.isolation,
      cgroups: this.cgroups,
      maxPids: this.opts.maxPidsPerTree,
      python: this.python,
      agentPath: join(AGENT_DIR, 'agent.py'),
      agentDir: AGENT_DIR,
      socketDir: this.runDir,
      worldsDir: this.worldsDir,
    });
    this.trees.add(tree);
    const home = join(tree.dir, opts.id);
    const { token, connection } = this.control.expect();
    try {
      await tree.keeper.request('spawn', { token, home, memoryMib: opts.memoryMib });
      return this.adopt(opts.id, await connection, tree, home);
    } catch (err) {
      this.control.cancel(token, err as Error);
      await this.endTreeIfEmpty(tree);
      throw toDriverError(err);
    }
  }

  exec(world: WorldHandle, code: string, opts: ExecOptions): Promise<ExecResult> {
    const p = this.proc(world);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return this.serial(p, async () => {
      let interrupted = false;
      const timer = setTimeout(() => {
        interrupted = true;
        void p.tree.signal(p.conn.pid, 'SIGINT');
        // A world that ignores the interrupt is killed: it is marked failed and the request rejects.
        graceTimer = setTimeout(() => void this.kill(p, `did not stop within ${this.opts.interruptGraceMs} ms of its ${timeoutMs} ms timeout`), this.opts.interruptGraceMs);
      }, timeoutMs);
      let graceTimer: NodeJS.Timeout | undefined;
      try {
        const onEvent = opts.onOutput ? (ev: string, data: string) => opts.onOutput?.(ev as 'stdout' | 'stderr', data) : undefined;
        const r = (await this.request(p, 'exec', { code, stream: onEvent !== undefined }, onEvent)) as unknown as ExecResult;
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
    return this.serial(p, async () =>
      (await this.request(p, 'run', {
        argv: command,
        cwd: opts.cwd,
        env: opts.env,
        timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        stream: onEvent !== undefined,
      }, onEvent)) as unknown as RunResult,
    );
  }

  writeFile(world: WorldHandle, path: string, data: Uint8Array): Promise<void> {
    const p = this.proc(world);
    return this.serial(p, async () => {
      await this.request(p, 'write_file', { path, data: Buffer.from(data).toString('base64') });
    });
  }

  readFile(world: WorldHandle, path: string): Promise<Uint8Array> {
    const p = this.proc(world);
    return this.serial(p, async () => {
      const r = await this.request(p, 'read_file', { path });
      return new Uint8Array(Buffer.from(String(r.data), 'base64'));
    });
  }

  snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle> {
    const p = this.proc(world);
    return this.serial(p, async () => {
      const home = join(p.tree.dir, id);
      const { token, connection } = this.control.expect();
      try {
        await this.request(p, 'snapshot', { token, home });
      } catch (err) {
        this.control.cancel(token, err as Error);
        rmSync(home, { recursive: true, force: true });
        throw err;
      }
      return this.adopt(id, await connection, p.tree, home);
    });
  }

  branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]> {
    const p = this.proc(source);
    return this.serial(p, async () => {
      const waits = opts.ids.map(() => this.control.expect());
      const homes = opts.ids.map((id) => join(p.tree.dir, id));
      // The children connect while the parent is still replying: wait for both at once, not one after the other.
      const forked = this.request(p, 'fork', { tokens: waits.map((w) => w.token), homes, sameRandom: opts.sameRandom });
      forked.catch((err) => {
        for (const w of waits) this.control.cancel(w.token, err as Error);
      });
      const [, ...conns] = await Promise.all([forked, ...waits.map((w) => w.connection)]);
      return conns.map((c, i) => this.adopt(opts.ids[i] as string, c, p.tree, homes[i] as string));
    });
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
      notes: [
        `isolation: ${this.isolation.kind} (${this.isolation.reason})`,
        `python: ${this.python} ${pythonVersion}`,
        this.cgroups
          ? `process limit: ${this.opts.maxPidsPerTree} per fork tree (cgroup v1 pids)`
          : 'process limit: none (cgroup v1 pids controller not writable here): a fork bomb can exhaust host pids',
        'memory limit: per world, as an address-space limit (RLIMIT_AS) above the interpreter baseline',
        isolation_note(this.isolation),
      ],
    };
  }

  async close(): Promise<void> {
    for (const p of this.procs.values()) p.ending = true;
    await Promise.all([...this.trees].map((t) => t.end()));
    this.trees.clear();
    this.procs.clear();
    await this.control.close();
    this.cgroups?.removeAll();
    rmSync(this.runDir, { recursive: true, force: true });
    rmSync(this.worldsDir, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------------------------------------

  private proc(h: WorldHandle | SnapshotHandle): Proc {
    const p = this.procs.get(h.id);
    if (!p) throw new DriverError(`process driver has no world or snapshot ${h.id}`);
    return p;
  }

  private adopt(id: string, conn: AgentConnection, tree: Tree, home: string): Proc {
    const p = new Proc(id, conn, tree, home);
    this.procs.set(id, p);
    tree.members.add(id);
    conn.once('close', () => {
      this.forget(p);
      if (!p.ending) this.listener(id, p.failure ?? 'its process exited unexpectedly');
    });
    return p;
  }

  private serial<T>(p: Proc, fn: () => Promise<T>): Promise<T> {
    const next = p.queue.then(fn, fn);
    p.queue = next.catch(() => {});
    return next;
  }

  private async request(p: Proc, op: string, args: Record<string, unknown>, onEvent?: (ev: string, data: string) => void): Promise<Record<string, unknown>> {
    try {
      return await p.conn.request(op, args, onEvent);
    } catch (err) {
      throw toDriverError(err, p);
    }
  }

  /** Kill a world or snapshot's whole session; `reason` marks it failed (reported through the listener). */
  private async kill(p: Proc, reason?: string): Promise<void> {
    if (!reason) p.ending = true;
    else p.failure = reason;
    await p.tree.killSession(p.conn.pid);
    if (!p.conn.isClosed) await new Promise<void>((r) => p.conn.once('close', () => r()));
  }

  private forget(p: Proc): void {
    this.procs.delete(p.id);
    p.tree.members.delete(p.id);
    rmSync(p.home, { recursive: true, force: true });
    void this.endTreeIfEmpty(p.tree);
  }

  private async endTreeIfEmpty(tree: Tree): Promise<void> {
    if (tree.members.size > 0 || !this.trees.has(tree)) return;
    this.trees.delete(tree);
    await tree.end();
  }
}

function isolation_note(choice: IsolationChoice): string {
  switch (choice.kind) {
    case 'bwrap':
      return 'each fork tree: own user/pid/net/ipc/uts namespaces, read-only /usr, writes only to its own directory, no network, no capabilities';
    case 'unshare':
      return 'each fork tree: own pid/net/ipc/uts namespaces (no network) but the host filesystem is visible and writable';
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
