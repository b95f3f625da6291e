/**
 * @module
 * Crash sweep: what a runtime that died without closing left in its home (its run folder, its layers, its
 * cgroups) is removed when the home is next opened. Its processes are already gone: each tree's keeper is
 * pid 1 of the tree's pid namespace and ends the tree when its host connection drops, and the kernel
 * kills the namespace when the keeper dies.
 *
 * Runtime folders are named `<pid>-<random>`; one is dead when no process has that pid, or when it is this
 * process but no runtime of this process has that id.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { sweepCgroups } from './cgroup.js';

/** Runtime ids open in this process (a process may hold several runtimes, on different homes). */
export const liveRuntimes = new Set<string>();

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function dead(name: string): boolean {
  if (!/^\d+-[0-9a-f]+$/.test(name)) return false;
  const pid = Number(name.split('-')[0]);
  if (pid === process.pid) return !liveRuntimes.has(name);
  return !pidAlive(pid);
}

export interface SweepReport {
  runtimes: number;
  freedBytes: number;
  cgroups: number;
  /** Processes of dead runtimes that were still alive (a keeper that outlived its host), now killed. */
  killed: number;
}

/** SIGKILL every process naming one of `runtimes` on its command line (`keeper.py --runtime <id>`, and the
 * worlds forked from keepers): a keeper is pid 1 of its tree, so killing it ends its tree. */
function killRuntimeProcesses(runtimes: Set<string>): number {
  let killed = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf('--runtime');
      if (at < 0 || !runtimes.has(argv[at + 1] as string)) continue;
      process.kill(Number(name), 'SIGKILL');
      killed++;
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return killed;
}

/** Remove dead runtimes' folders under each of `parents` (layer folders may hold btrfs subvolumes). */
export function sweepHome(parents: string[], python: string, fsctl: string): SweepReport {
  const victims: string[] = [];
  const names = new Set<string>();
  for (const parent of parents) {
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent)) {
      if (dead(name)) {
        victims.push(join(parent, name));
        names.add(name);
      }
    }
  }
  const killed = names.size > 0 ? killRuntimeProcesses(names) : 0;
  let freedBytes = 0;
  if (victims.length > 0) {
    try {
      const out = execFileSync(python, ['-I', '-S', fsctl, 'remove', ...victims], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'ignore'] });
      freedBytes = (JSON.parse(out) as { freed: number }).freed;
    } catch {
      for (const v of victims) rmSync(v, { recursive: true, force: true });
    }
  }
  const cgroups = process.getuid?.() === 0 ? sweepCgroups(dead) : 0;
  return { runtimes: names.size, freedBytes, cgroups, killed };
}
