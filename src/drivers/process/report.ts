/**
 * @module
 * The process driver's part of `doctor`: what it chose on this machine and what each choice guarantees.
 */
import { execFileSync } from 'node:child_process';
import type { DriverReport } from '../driver.js';
import type { FsChoice } from './fs.js';
import { type IsolationChoice, isolationNote, UID_COUNT } from './isolation.js';

export interface ReportState {
  python: string;
  isolation: IsolationChoice;
  fs: FsChoice;
  /** Whether worlds have memory and pids cgroups. */
  cgroups: boolean;
  uidBase: number;
  pool: { worlds: number; branchesPerSnapshot: number };
  sweep: { runtimes: number; freedBytes: number };
}

export function doctorReport(s: ReportState): DriverReport {
  let pythonVersion = 'unknown';
  try {
    pythonVersion = execFileSync(s.python, ['-I', '-S', '-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).trim();
  } catch {}
  const world = s.isolation.kind === 'world';
  return {
    driver: 'process',
    available: true,
    isolation: s.isolation.kind,
    fs: s.fs.kind,
    python: s.python,
    pythonVersion,
    memoryLimit: s.cgroups ? 'cgroup' : 'address-space',
    processLimit: world ? 512 : null,
    diskLimit: s.fs.quotas !== null,
    pool: { worlds: s.pool.worlds, branchesPerSnapshot: s.pool.branchesPerSnapshot },
    notes: [
      `isolation: ${s.isolation.kind} (${s.isolation.reason})`,
      isolationNote(s.isolation),
      `files: ${s.fs.kind} (${s.fs.reason})${s.fs.image ? `, image of ${(s.fs.image.sizeBytes / 2 ** 30).toFixed(1)} GiB (sparse)` : ''}`,
      s.fs.quotas
        ? 'disk limit: per world, diskMib (btrfs simple quotas)'
        : 'disk limit: NOT enforced here (needs btrfs with quotas, as root): a world can fill the disk',
      s.cgroups
        ? "memory limit: each fork tree's cgroup v1 memory group holds the sum of its worlds' memoryMib (all their processes, /dev/shm, memfds); each process also has an address-space limit of its world's memoryMib"
        : 'memory limit: per process only (an address-space limit of memoryMib): a world with many processes can use more',
      world
        ? 'process limit: 512 per world (RLIMIT_NPROC of its own uid), 16384 per fork tree (cgroup v1 pids)'
        : 'process limit: none per world (needs isolation world)',
      world
        ? `uids: worlds run as host uids ${s.uidBase + 1000}.. (range ${s.uidBase}–${s.uidBase + UID_COUNT - 1}); files on disk belong to ${s.uidBase + 100}`
        : "uids: worlds share this user's uid",
      `pool: worlds ${s.pool.worlds} (started trees, each with a spare world, for create), branchesPerSnapshot ${s.pool.branchesPerSnapshot} (pre-born branches per snapshot)`,
      ...(s.sweep.runtimes > 0 ? [`swept at open: ${s.sweep.runtimes} dead runtime(s), ${s.sweep.freedBytes} bytes freed`] : []),
    ],
  };
}
