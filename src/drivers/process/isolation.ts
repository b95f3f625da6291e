/**
 * @module
 * How a fork tree is sandboxed: bubblewrap when installed, util-linux `unshare` as a fallback, or nothing.
 * One fork tree is one trust domain (its processes can signal each other); trees are isolated from each
 * other and from the host.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { IsolationUnavailableError } from '../../core/errors.js';
import type { Isolation } from '../../core/types.js';

export type ResolvedIsolation = Exclude<Isolation, 'auto'>;

/** The uid a world runs as inside its user namespace: never root. */
export const WORLD_UID = 1000;

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const p = `${dir}/${cmd}`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Whether bubblewrap can actually create the namespaces here (it may be installed but blocked). */
function bwrapWorks(bwrap: string): boolean {
  try {
    execFileSync(bwrap, ['--unshare-all', '--unshare-user', ...systemBinds(), '/usr/bin/true'], {
      stdio: 'ignore',
      timeout: 5000,
    });
    return true;
  } catch {
    return false;
  }
}

const THP_DIR = '/sys/kernel/mm/transparent_hugepage';

/** /usr read-only, and the top-level /bin, /lib... as the same symlinks (merged /usr) or read-only binds. */
function systemBinds(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const top of ['/bin', '/sbin', '/lib', '/lib64', '/lib32']) {
    if (!existsSync(top)) continue;
    if (lstatSync(top).isSymbolicLink()) args.push('--symlink', readlinkSync(top), top);
    else args.push('--ro-bind', top, top);
  }
  return args;
}

export interface IsolationChoice {
  kind: ResolvedIsolation;
  /** Absolute path of the sandbox tool, when one is used. */
  tool?: string;
  /** Why this was chosen, for doctor and for the warning. */
  reason: string;
}

/**
 * Resolve the configured isolation to what this machine can do. `auto` prefers bwrap, then unshare, then
 * none, and says so loudly (via `warn`) when it cannot sandbox with bwrap.
 */
export function chooseIsolation(wanted: Isolation, warn: (msg: string) => void): IsolationChoice {
  const bwrap = which('bwrap');
  const unshare = which('unshare');
  if (wanted === 'bwrap' || wanted === 'auto') {
    if (bwrap && bwrapWorks(bwrap)) return { kind: 'bwrap', tool: bwrap, reason: `bubblewrap at ${bwrap}` };
    const why = bwrap ? `bubblewrap at ${bwrap} cannot create namespaces here` : 'bubblewrap (bwrap) is not installed';
    if (wanted === 'bwrap') throw new IsolationUnavailableError(`isolation 'bwrap' requested but ${why}; install the bubblewrap package`);
    if (unshare && process.getuid?.() === 0) {
      warn(`world-runtime: WARNING ${why}; falling back to 'unshare' (new pid/net/ipc namespaces, no filesystem sandbox). Install bubblewrap for full isolation.`);
      return { kind: 'unshare', tool: unshare, reason: `${why}; util-linux unshare fallback` };
    }
    warn(`world-runtime: WARNING ${why} and unshare is unusable; worlds run WITHOUT isolation (they can read and write as this user and reach the network). Install bubblewrap.`);
    return { kind: 'none', reason: `${why}; no sandbox` };
  }
  if (wanted === 'unshare') {
    if (!unshare) throw new IsolationUnavailableError("isolation 'unshare' requested but util-linux unshare is not installed");
    return { kind: 'unshare', tool: unshare, reason: 'util-linux unshare (requested)' };
  }
  return { kind: 'none', reason: 'no sandbox (requested)' };
}

export interface SandboxPaths {
  /** The tree's own directory: the only writable place the sandbox sees. */
  treeDir: string;
  /** Directory holding the control socket. */
  socketDir: string;
  /** Directory holding agent.py. */
  agentDir: string;
  /** The Python interpreter (its prefix is bound read-only when outside /usr). */
  python: string;
}

/** Directories of the host shown read-only inside a bwrap sandbox: enough for Python and a shell. */
const RO_ETC = ['/etc/ld.so.cache', '/etc/alternatives', '/etc/localtime', '/etc/passwd', '/etc/group', '/etc/nsswitch.conf'];

/** The argv prefix that puts `python agent.py ...` into the chosen sandbox. */
export function sandboxArgv(choice: IsolationChoice, paths: SandboxPaths): string[] {
  if (choice.kind === 'none') return [];
  if (choice.kind === 'unshare') {
    // --kill-child: the tree dies with unshare; the keeper also kills the tree when the host connection drops.
    return [choice.tool as string, '--pid', '--fork', '--kill-child', '--mount-proc', '--net', '--ipc', '--uts', '--'];
  }
  const args = [
    choice.tool as string,
    '--unshare-all',
    '--unshare-user',
    '--clearenv',
    '--setenv', 'LANG', 'C.UTF-8',
    '--setenv', 'GLIBC_TUNABLES', 'glibc.malloc.hugetlb=1',
    '--uid', String(WORLD_UID),
    '--gid', String(WORLD_UID),
    '--die-with-parent',
    '--new-session',
    '--cap-drop', 'ALL',
    ...systemBinds(),
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
  ];
  for (const f of RO_ETC) args.push('--ro-bind-try', f, f);
  // glibc reads this to honour malloc.hugetlb=1; without it, worlds never get huge pages (forks copy more).
  args.push('--ro-bind-try', THP_DIR, THP_DIR);
  const pyPrefix = dirname(dirname(paths.python));
  if (!paths.python.startsWith('/usr/')) args.push('--ro-bind', pyPrefix, pyPrefix);
  args.push('--ro-bind', paths.agentDir, paths.agentDir);
  args.push('--bind', paths.socketDir, paths.socketDir);
  args.push('--bind', paths.treeDir, paths.treeDir);
  // Everything but the tree's directory and a private /tmp is read-only, the sandbox's own root included.
  args.push('--remount-ro', '/');
  args.push('--chdir', paths.treeDir, '--setenv', 'HOME', paths.treeDir, '--setenv', 'PATH', '/usr/local/bin:/usr/bin:/bin');
  args.push('--');
  return args;
}
