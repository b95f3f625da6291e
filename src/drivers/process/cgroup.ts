/**
 * @module
 * Per-tree process limit through the cgroup v1 `pids` controller, which these machines have (v2 memory/pids
 * controllers are not available). The limit is applied once per tree, when its keeper starts (a v1 move
 * costs ≈0.3 ms), never on the fork path. A fork bomb in one tree then stops at the limit without touching
 * other trees.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup/pids';

export class PidsCgroups {
  private constructor(private readonly base: string) {}

  /** The controller's folder for this runtime, or undefined when it cannot be written here. */
  static open(runtimeId: string): PidsCgroups | undefined {
    if (!existsSync(join(ROOT, 'cgroup.procs'))) return undefined;
    const base = join(ROOT, 'world-runtime', runtimeId);
    try {
      mkdirSync(base, { recursive: true });
      return new PidsCgroups(base);
    } catch {
      return undefined;
    }
  }

  /** Make a group for one tree; the returned path's cgroup.procs is where the tree's first process goes. */
  create(treeId: string, maxPids: number): string {
    const dir = join(this.base, treeId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'pids.max'), String(maxPids));
    return join(dir, 'cgroup.procs');
  }

  /** Remove a tree's group once it is empty (the kernel refuses while processes remain). */
  remove(treeId: string): void {
    try {
      rmdirSync(join(this.base, treeId));
    } catch {
      // still has processes, or already gone; removeAll() at close retries
    }
  }

  removeAll(): void {
    try {
      for (const d of readdirSync(this.base)) this.remove(d);
      rmdirSync(this.base);
    } catch {
      // best effort: leftover empty groups are harmless and are swept on the next open
    }
  }

  /** Remove empty groups left by runtimes whose process is gone (runtime folders are named `<pid>-<random>`). */
  static sweep(): void {
    const top = join(ROOT, 'world-runtime');
    if (!existsSync(top)) return;
    for (const rt of readdirSync(top)) {
      if (pidAlive(Number(rt.split('-')[0]))) continue;
      try {
        for (const t of readdirSync(join(top, rt), { withFileTypes: true })) if (t.isDirectory()) rmdirSync(join(top, rt, t.name));
        rmdirSync(join(top, rt));
      } catch {
        // a live runtime's group: leave it
      }
    }
  }
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
