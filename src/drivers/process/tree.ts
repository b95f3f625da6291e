/**
 * @module
 * A fork tree: one sandbox holding a keeper process (the tree's subreaper) and every world and snapshot
 * descended from one created world. Started once per `create`; branching never starts a new tree.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DriverError } from '../../core/errors.js';
import type { PidsCgroups } from './cgroup.js';
import type { AgentConnection, ControlServer } from './control.js';
import { type IsolationChoice, sandboxArgv } from './isolation.js';

export interface TreeConfig {
  control: ControlServer;
  isolation: IsolationChoice;
  cgroups?: PidsCgroups;
  maxPids: number;
  python: string;
  agentPath: string;
  agentDir: string;
  socketDir: string;
  worldsDir: string;
}

/**
 * The whole environment a world starts with: nothing of the host's (tokens, keys) leaks in. glibc's
 * `malloc.hugetlb=1` puts large allocations on transparent huge pages, so forking a 200 MB world copies
 * ~100 page-table entries instead of ~50,000 (measured here: fork of a 200 MB Python 2.1 ms instead of 6 ms).
 */
function worldEnv(home: string): NodeJS.ProcessEnv {
  return { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' };
}

export class Tree {
  /** Ids of the worlds and snapshots alive in this tree; the tree ends with the last of them. */
  readonly members = new Set<string>();
  private ended = false;

  private constructor(
    readonly id: string,
    readonly dir: string,
    readonly keeper: AgentConnection,
    private readonly child: ChildProcess,
    private readonly config: TreeConfig,
  ) {}

  static async start(id: string, config: TreeConfig): Promise<Tree> {
    const dir = join(config.worldsDir, id);
    mkdirSync(dir, { recursive: true });
    const { token, connection } = config.control.expect();
    const agent = [config.python, '-I', '-S', config.agentPath, 'keeper', config.control.path, token];
    let argv = [
      ...sandboxArgv(config.isolation, { treeDir: dir, socketDir: config.socketDir, agentDir: config.agentDir, python: config.python }),
      ...agent,
    ];
    if (config.cgroups) {
      // The shell joins the tree's pids group, then becomes the sandbox: everything after inherits the limit.
      const procs = config.cgroups.create(id, config.maxPids);
      argv = ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', procs, ...argv];
    }
    const [cmd, ...args] = argv as [string, ...string[]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: worldEnv(dir) });
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderr = (stderr + d).slice(-4000);
    });
    const early = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) => reject(new DriverError(`world sandbox exited at start (${signal ?? code}): ${stderr.trim() || 'no output'}`)));
      child.once('error', (err) => reject(new DriverError(`cannot start ${cmd}: ${err.message}`, err)));
    });
    try {
      const keeper = await Promise.race([connection, early]);
      return new Tree(id, dir, keeper, child, config);
    } catch (err) {
      config.control.cancel(token, err as Error);
      child.kill('SIGKILL');
      config.cgroups?.remove(id);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Kill every process of one world or snapshot (its whole session). */
  async killSession(pid: number): Promise<void> {
    if (this.keeper.isClosed) return;
    await this.keeper.request('kill_session', { pid }).catch(() => {});
  }

  async signal(pid: number, signal: 'SIGINT' | 'SIGKILL'): Promise<void> {
    if (this.keeper.isClosed) return;
    await this.keeper.request('signal', { pid, signal }).catch(() => {});
  }

  /** Tear the tree down: every process killed and reaped, its cgroup and files removed. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    await this.keeper.request('exit').catch(() => {});
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
    this.config.cgroups?.remove(this.id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
