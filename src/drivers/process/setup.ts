/**
 * @module
 * What a process driver settles when it opens a home: its Python, isolation and filesystem backend, what
 * dead runtimes left there (swept), and this runtime's own folders, cgroups and host uid range.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverError } from '../../base/errors.js';
import type { FsBackend, Isolation } from '../../base/types.js';
import { openCgroups, removeCgroups, type RuntimeCgroups } from './cgroup.js';
import { chooseFs, type FsChoice, releaseFs } from './fs.js';
import { chooseIsolation, chooseUidBase, type IsolationChoice } from './isolation.js';
import { liveRuntimes, sweepHome } from './sweep.js';
import { env } from '../../base/config.js';

export interface Home {
  isolation: IsolationChoice;
  fs: FsChoice;
  python: string;
  runtimeId: string;
  /** Holds the control socket; under the home, or a short temp folder when that path would be too long. */
  runDir: string;
  layersDir: string;
  cgroups: RuntimeCgroups | undefined;
  uidBase: number;
  sweep: { runtimes: number; freedBytes: number };
}

export function findPython(explicit?: string): string {
  const wanted = explicit ?? env('WORLD_RUNTIME_PYTHON');
  if (wanted) return wanted;
  // A version manager's shim adds ~100 ms per start; the system interpreter also lives under /usr, which
  // every world sees read-only.
  if (existsSync('/usr/bin/python3')) return '/usr/bin/python3';
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  } catch {
    throw new DriverError('no python3 found: install python3 or set WORLD_RUNTIME_PYTHON');
  }
}

export function prepareHome(home: string, o: { isolation?: Isolation; fs?: FsBackend; python?: string; agentDir: string; warn: (msg: string) => void }): Home {
  const isolation = chooseIsolation(o.isolation ?? 'auto', o.warn);
  const python = findPython(o.python);
  const fs = chooseFs(o.fs ?? 'auto', isolation, home, python, o.agentDir, o.warn);
  const sweep = sweepHome([join(home, 'run'), join(home, 'worlds'), join(home, 'layers'), fs.base], python, join(o.agentDir, 'fsctl.py'));
  if (sweep.runtimes > 0) {
    const killed = sweep.killed > 0 ? `, ${sweep.killed} of their processes killed` : '';
    o.warn(
      `world-runtime: removed what ${sweep.runtimes} runtime(s) that did not close left in ${home}: ${(sweep.freedBytes / 2 ** 20).toFixed(1)} MiB freed${killed}`,
    );
  }
  const runtimeId = `${process.pid}-${randomBytes(4).toString('hex')}`;
  liveRuntimes.add(runtimeId);
  // A unix socket path may hold at most 107 bytes; fall back to a short temp dir for deep homes.
  let runDir = join(home, 'run', runtimeId);
  if (join(runDir, 'ctl.sock').length > 100) runDir = mkdtempSync(join(tmpdir(), 'wr-'));
  mkdirSync(runDir, { recursive: true, mode: 0o700 });
  const layersDir = join(fs.base, runtimeId);
  mkdirSync(layersDir, { recursive: true, mode: 0o700 });
  const cgroups = isolation.kind === 'world' ? openCgroups(runtimeId) : undefined;
  if (isolation.kind === 'world' && !cgroups) {
    o.warn('world-runtime: WARNING cgroup v1 memory is not writable here: a world is bounded per process (address space), not as a whole');
  }
  const uidBase = isolation.kind === 'world' ? chooseUidBase((p) => readFileSync(p, 'utf8')) : 0;
  return { isolation, fs, python, runtimeId, runDir, layersDir, cgroups, uidBase, sweep };
}

/**
 * What a closing runtime removes of its own (its worlds are already ended): cgroups, run folder, layers,
 * and its hold on the filesystem. Each step on its own: one that fails (a busy folder) must not leave the
 * others undone; a failure is a warning.
 */
export function releaseHome(
  h: Pick<Home, 'cgroups' | 'runDir' | 'layersDir' | 'python' | 'fs' | 'runtimeId'>,
  agentDir: string,
  warn: (msg: string) => void,
): void {
  const steps: [string, () => void][] = [
    ['cgroups', () => h.cgroups && removeCgroups(h.cgroups)],
    ['run folder', () => rmSync(h.runDir, { recursive: true, force: true })],
    ['layers', () => execFileSync(h.python, ['-I', '-S', join(agentDir, 'fsctl.py'), 'remove', h.layersDir], { stdio: 'ignore', timeout: 600_000 })],
    ['filesystem', () => releaseFs(h.fs)],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (err) {
      warn(`world-runtime: could not remove its ${what} at close: ${(err as Error).message}`);
    }
  }
  liveRuntimes.delete(h.runtimeId);
}
