/**
 * @module
 * How the process driver's worlds are contained (docs/security.md):
 *
 * - `world`: one trust domain per world. Each world runs as its own unprivileged host uid (from a range the
 *   runtime reserves) in its own mount, network, IPC and UTS namespaces, under a seccomp filter; every fork
 *   tree has its own pid namespace. Needs root on the host (to map a uid range), x86_64 and util-linux.
 * - `tree`: one user and pid namespace per fork tree (no root needed): each world still gets its own mount
 *   view, network, /tmp and /dev/shm, but all worlds of a tree share one uid, so they can signal each other
 *   and read each other's /proc. A tree is one trust domain; trees are isolated from each other and the host.
 * - `none`: no sandbox at all (worlds run as this user with its files and network), said loudly.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { arch } from 'node:os';
import { IsolationUnavailableError } from '../../base/errors.js';
import type { Isolation } from '../../base/types.js';

export type ResolvedIsolation = Exclude<Isolation, 'auto'>;

export interface IsolationChoice {
  kind: ResolvedIsolation;
  /** util-linux `unshare`, which starts each fork tree in its namespaces. */
  unshare?: string;
  /** Why this was chosen, for doctor and the warning. */
  reason: string;
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = `${dir}/${cmd}`;
    if (existsSync(p)) return p;
  }
  for (const p of [`/usr/bin/${cmd}`, `/bin/${cmd}`]) if (existsSync(p)) return p;
  return undefined;
}

/** Whether an unprivileged user namespace with its own pid namespace can be made here. */
function userNamespacesWork(unshare: string): boolean {
  try {
    execFileSync(unshare, ['--user', '--map-root-user', '--pid', '--fork', '--mount', '--mount-proc', '/bin/true'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Resolve the configured isolation to what this machine can do. `auto` takes `world` as root, else `tree`,
 * else `none`, and warns loudly (through `warn`) whenever worlds are not one trust domain each.
 */
export function chooseIsolation(wanted: Isolation, warn: (msg: string) => void): IsolationChoice {
  const root = process.getuid?.() === 0;
  const unshare = which('unshare');
  const x64 = arch() === 'x64';
  const worldWhyNot = !root
    ? 'per-world isolation needs root (it maps worlds to a range of unprivileged host uids)'
    : !x64
      ? `per-world isolation is built for x86_64; this is ${arch()}`
      : !unshare
        ? 'util-linux unshare is not installed'
        : undefined;
  if (wanted === 'world' || (wanted === 'auto' && !worldWhyNot)) {
    if (worldWhyNot) throw new IsolationUnavailableError(`isolation 'world' requested but ${worldWhyNot}`);
    return { kind: 'world', unshare, reason: 'root: a uid, namespaces and seccomp filter per world, a pid namespace per tree' };
  }
  const treeWorks = unshare !== undefined && x64 && !root && userNamespacesWork(unshare);
  if (wanted === 'tree' || wanted === 'auto') {
    if (treeWorks) {
      if (wanted === 'auto') {
        warn(
          `world-runtime: WARNING ${worldWhyNot}; using isolation 'tree': worlds branched from one created world share a uid and can signal each other. Run as root for one trust domain per world.`,
        );
      }
      return { kind: 'tree', unshare, reason: `${worldWhyNot}; one unprivileged user namespace per tree` };
    }
    const why = root
      ? "isolation 'tree' runs without root (as root, use 'world')"
      : !x64
        ? `isolation is built for x86_64; this is ${arch()}`
        : unshare
          ? 'unprivileged user namespaces are not allowed here'
          : 'util-linux unshare is not installed';
    if (wanted === 'tree') throw new IsolationUnavailableError(`isolation 'tree' requested but ${why}`);
    warn(`world-runtime: WARNING ${why}; worlds run WITHOUT isolation (as this user, with its files and network).`);
    return { kind: 'none', reason: `${why}; no sandbox` };
  }
  return { kind: 'none', reason: 'no sandbox (requested)' };
}

/** The argv prefix that starts a tree's keeper in its namespaces (it becomes pid 1 of a new pid namespace). */
export function keeperArgv(choice: IsolationChoice): string[] {
  const u = choice.unshare as string;
  if (choice.kind === 'world') return [u, '--pid', '--fork', '--kill-child', '--mount-proc', '--'];
  // In a user namespace of its own the keeper must own the namespaces it comes back to after entering a world's.
  if (choice.kind === 'tree')
    return [u, '--user', '--map-root-user', '--pid', '--fork', '--kill-child', '--mount', '--mount-proc', '--net', '--ipc', '--uts', '--'];
  return [];
}

export function isolationNote(choice: IsolationChoice): string {
  switch (choice.kind) {
    case 'world':
      return 'each world: its own unprivileged host uid, mount view, network, IPC and /tmp, under a seccomp filter; each fork tree: its own pid namespace';
    case 'tree':
      return 'each world: its own mount view, network, IPC and /tmp; all worlds of one fork tree share a uid (one trust domain per tree)';
    default:
      return 'worlds are NOT isolated: they run as this user with its files and network';
  }
}

/** Host uids reserved for one runtime's worlds (isolation `world`): none may belong to anything else. */
export const UID_COUNT = 65536;
const DEFAULT_UID_BASE = 0x7a000000;

/**
 * The first host uid of a 65,536-uid range that no user, group or subordinate-id range of this machine
 * overlaps (a host account with a world's uid could signal that world's processes).
 */
export function chooseUidBase(read: (path: string) => string): number {
  const taken: [number, number][] = [];
  for (const file of ['/etc/passwd', '/etc/group']) {
    for (const line of safeRead(read, file).split('\n')) {
      const id = Number(line.split(':')[2]);
      if (Number.isInteger(id)) taken.push([id, 1]);
    }
  }
  for (const file of ['/etc/subuid', '/etc/subgid']) {
    for (const line of safeRead(read, file).split('\n')) {
      const [, start, count] = line.split(':').map(Number);
      if (Number.isInteger(start) && Number.isInteger(count)) taken.push([start as number, count as number]);
    }
  }
  for (let base = DEFAULT_UID_BASE; base + UID_COUNT < 0xfffffff0; base += UID_COUNT) {
    if (!taken.some(([s, n]) => s < base + UID_COUNT && s + n > base)) return base;
  }
  throw new IsolationUnavailableError('no free range of 65,536 host uids for the worlds');
}

function safeRead(read: (path: string) => string, path: string): string {
  try {
    return read(path);
  } catch {
    return '';
  }
}
