/**
 * @module
 * A fork tree: one keeper (agent/keeper.py, pid 1 of the tree's pid namespace) and every world, snapshot
 * and spare descended from one created world. Started once per `create`; branching never starts a tree.
 * The keeper is the only process of a tree that the host trusts: it makes each world's sandbox, hands it
 * its connection, and ends it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { debuglog } from 'node:util';
import { DriverError } from '../../base/errors.js';
import type { RuntimeCgroups } from './cgroup.js';
import type { AgentConnection, ControlServer } from './control.js';
import type { FsChoice } from './fs.js';
import { type IsolationChoice, keeperArgv } from './isolation.js';

export interface TreeConfig {
  control: ControlServer;
  isolation: IsolationChoice;
  fs: FsChoice;
  /** This runtime's layer folder (under `fs.base`). */
  layersDir: string;
  cgroups?: RuntimeCgroups;
  python: string;
  keeperPath: string;
  /** Host uids the worlds map to (isolation `world`): the tree's uid 0 is `uidBase`. */
  uidBase: number;
  uidCount: number;
  /** Read-only host folders a world also needs (the interpreter's prefix when it is outside /usr). */
  extraRo: string[];
  /** Named on the keeper's command line (and so on every world's): how the runtime's processes are found. */
  runtimeId: string;
}

/** One world, snapshot or spare to be born (agent/PROTOCOL.md, keeper ops). */
export interface Birth {
  id: string;
  role: 'world' | 'spare' | 'snapshot';
  token: string;
  memoryMib: number;
  diskMib?: number;
  /** Its uid inside the tree's user namespace, from `Tree.uidFor`. */
  uid?: number;
}

export interface Born {
  id: string;
  uid: number;
  home: string;
}

// NODE_DEBUG=world-runtime also shows what keepers write to stderr.
const trace = debuglog('world-runtime');

/** Inside every tree's user namespace: the owner of every world file on disk, and the worlds' group. */
export const FILE_OWNER = 100;
export const WORLD_GID = 1000;
/** Worlds' uids inside the tree start here (agent/agent.py FIRST_WORLD_UID). */
const FIRST_WORLD_UID = 1000;

export class Tree {
  /** Ids of the worlds and snapshots alive in this tree; the tree ends with the last of them. */
  readonly members = new Set<string>();
  private ended = false;
  private ending?: Promise<void>;
  private readonly exitListeners = new Set<(id: string, reason: string) => void>();
  // The host hands out uids (so a fork request can name them without waiting for the keeper), and takes
  // one back only once the keeper says no process of it is left.
  private readonly uids = new Map<string, number>();
  private readonly freeUids: number[] = [];
  private nextUid = FIRST_WORLD_UID;

  private constructor(
    readonly id: string,
    readonly keeper: AgentConnection,
    private readonly child: ChildProcess,
    private readonly uidCount: number,
  ) {
    keeper.on('message', (msg: Record<string, unknown>) => {
      if (msg.event !== 'exit') return;
      this.releaseUid(String(msg.id));
      for (const l of this.exitListeners) l(String(msg.id), String(msg.reason));
    });
  }

  /**
   * Start a tree's keeper and wait for it to connect. A start that fails, or that `signal` aborts, ends the
   * keeper's whole process group, not only the process spawned: whatever the keeper started must not live
   * on holding its pipes.
   */
  static async start(id: string, config: TreeConfig, signal?: AbortSignal): Promise<Tree> {
    if (signal?.aborted) throw new DriverError(`fork tree ${id} was not started: its driver is closing`);
    const { token, connection } = config.control.expect();
    const cfg = {
      tree: id,
      socket: config.control.path,
      token,
      mode: config.isolation.kind,
      uidBase: config.uidBase,
      uidCount: config.uidCount,
      fileOwner: config.isolation.kind === 'world' ? config.uidBase + FILE_OWNER : 0,
      fileGroup: config.isolation.kind === 'world' ? config.uidBase + WORLD_GID : 0,
      fs: { kind: config.fs.kind, root: config.layersDir, quotas: config.fs.quotas },
      cgroups: config.cgroups ?? null,
      userns: config.isolation.kind === 'tree',
      extraRo: config.extraRo,
    };
    const argv = [...keeperArgv(config.isolation), config.python, '-I', '-S', config.keeperPath, '--runtime', config.runtimeId];
    const [cmd, ...args] = argv as [string, ...string[]];
    // The configuration holds the keeper's token: on stdin, never on a command line `ps` shows.
    // Detached: the keeper leads a process group of its own, which killGroup ends as one.
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' } });
    child.stdin?.on('error', () => {});
    child.stdin?.end(JSON.stringify(cfg));
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
      trace('keeper %s: %s', id, d.trimEnd());
    });
    let onAbort = () => {};
    const early = new Promise<never>((_, reject) => {
      child.once('exit', (code, sig) => reject(new DriverError(`a fork tree's keeper exited at start (${sig ?? code}): ${stderr.trim() || 'no output'}`)));
      child.once('error', (err) => reject(new DriverError(`cannot start ${cmd}: ${err.message}`, err)));
      onAbort = () => reject(new DriverError(`fork tree ${id} was ended while it started: its driver is closing`));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const keeper = await Promise.race([connection, early]);
      return new Tree(id, keeper, child, config.uidCount);
    } catch (err) {
      config.control.cancel(token, err as Error);
      killGroup(child);
      await exitOf(child, 5000);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** The uid of the domain `key` (a new one the first time). */
  uidFor(key: string): number {
    let uid = this.uids.get(key);
    if (uid === undefined) {
      uid = this.freeUids.pop() ?? this.nextUid++;
      if (uid >= this.uidCount) throw new DriverError(`fork tree ${this.id} has used all ${this.uidCount - FIRST_WORLD_UID} of its uids`);
      this.uids.set(key, uid);
    }
    return uid;
  }

  /** Give a domain's uid back: no process of it is left (the keeper said so, or it was never born). */
  releaseUid(key: string): void {
    const uid = this.uids.get(key);
    if (uid === undefined) return;
    this.uids.delete(key);
    this.freeUids.push(uid);
  }

  get isEnded(): boolean {
    return this.ended || this.keeper.isClosed;
  }

  onExit(listener: (id: string, reason: string) => void): void {
    this.exitListeners.add(listener);
  }

  /** Fork the tree's first world (or a spare for a later create). Its connection arrives on its token. */
  async spawn(birth: Birth): Promise<{ pid: number; uid: number }> {
    const r = await this.keeper.request('spawn', { birth: { ...birth, uid: this.uidFor(birth.id) } });
    return { pid: Number(r.pid), uid: Number(r.uid) };
  }

  /** Make the layers, groups and uids of worlds about to be forked from `parent`. */
  async prepare(parent: string, births: Birth[]): Promise<Born[]> {
    try {
      const r = await this.keeper.request('prepare', { parent, births: births.map((b) => ({ ...b, uid: this.uidFor(b.id) })) });
      return r.births as Born[];
    } catch (err) {
      for (const b of births) this.releaseUid(b.id);
      throw err;
    }
  }

  /** What a fork request names for each birth before `prepare` has answered (uids are the host's to give). */
  planned(births: Birth[]): Born[] {
    return births.map((b) => ({ id: b.id, uid: this.uidFor(b.id), home: '/world' }));
  }

  /** End every process of these worlds or snapshots; resolves once none is left. `drop`: their layers too. */
  async kill(ids: string[], drop = false): Promise<void> {
    if (this.isEnded || ids.length === 0) return;
    await this.keeper.request('kill', { ids, drop });
    for (const id of ids) this.releaseUid(id);
  }

  /** Delete layers nothing depends on any more. */
  async drop(ids: string[]): Promise<void> {
    if (this.isEnded || ids.length === 0) return;
    await this.keeper.request('drop', { ids });
  }

  async signal(id: string, signal: 'SIGINT' | 'SIGKILL'): Promise<void> {
    if (this.isEnded) return;
    await this.keeper.request('signal', { world: id, signal }).catch(() => {});
  }

  async limits(id: string, limits: { memoryMib?: number; diskMib?: number }): Promise<void> {
    await this.keeper.request('limits', { world: id, ...limits });
  }

  async usage(ids: string[]): Promise<Record<string, { disk: number | null; memory: number | null }>> {
    if (this.isEnded) return {};
    return (await this.keeper.request('usage', { ids })).usage as Record<string, { disk: number | null; memory: number | null }>;
  }

  /**
   * Tear the tree down: every process killed (the keeper is its pid namespace's init), its layers removed.
   * Every call resolves once the keeper has exited.
   */
  end(): Promise<void> {
    this.ending ??= this.teardown();
    return this.ending;
  }

  private async teardown(): Promise<void> {
    this.ended = true;
    const exited = exitOf(this.child);
    const timer = setTimeout(() => killGroup(this.child), 10_000);
    await this.keeper.request('exit').catch(() => {});
    this.keeper.close();
    await exited;
    clearTimeout(timer);
  }
}

/**
 * SIGKILL a keeper's process group (the keeper, or the `unshare` that starts it, leads one), and so every
 * process of it that has not left the group; the kernel ends a keeper's pid namespace with it.
 */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL'); // no such group (it never got one): the process alone
  }
}

/** Resolves once `child` has exited (at most `ms` later, when given). */
function exitOf(child: ChildProcess, ms?: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
