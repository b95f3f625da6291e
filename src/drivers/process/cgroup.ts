/**
 * @module
 * The runtime's own cgroup v1 groups (`memory` and `pids`), under which each tree's keeper makes one group
 * for its tree (agent/limits.py). v1 is what these machines have (the v2 memory and pids controllers are not
 * available); the keeper joins them once as it starts and its worlds inherit them, so no birth moves a
 * process between groups. Needs root.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = '/sys/fs/cgroup';
const CONTROLLERS = ['memory', 'pids'] as const;

export interface RuntimeCgroups {
  memory: string;
  pids: string;
}

/** The runtime's groups, or undefined when cgroup v1 memory and pids are not writable here. */
export function openCgroups(runtimeId: string): RuntimeCgroups | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (!CONTROLLERS.every((c) => existsSync(join(ROOT, c, 'cgroup.procs')))) return undefined;
  try {
    const dirs = CONTROLLERS.map((c) => {
      const d = join(ROOT, c, 'world-runtime', runtimeId);
      mkdirSync(d, { recursive: true });
      return d;
    });
    return { memory: dirs[0] as string, pids: dirs[1] as string };
  } catch {
    return undefined;
  }
}

/** Remove a runtime's groups (and any per-world ones left, once empty). Best effort. */
export function removeCgroups(groups: RuntimeCgroups): void {
  for (const dir of [groups.memory, groups.pids]) removeTree(dir);
}

function removeTree(dir: string): void {
  try {
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) removeTree(join(dir, d.name));
    rmdirSync(dir);
  } catch {
    // still has tasks, or already gone
  }
}

/** Remove the groups of dead runtimes (folders are named by runtime id). */
export function sweepCgroups(dead: (runtimeId: string) => boolean): number {
  let removed = 0;
  for (const c of CONTROLLERS) {
    const top = join(ROOT, c, 'world-runtime');
    if (!existsSync(top)) continue;
    for (const rt of readdirSync(top)) {
      if (!dead(rt)) continue;
      removeTree(join(top, rt));
      if (!existsSync(join(top, rt))) removed++;
    }
  }
  return removed;
}
