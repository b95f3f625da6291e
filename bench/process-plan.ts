/**
 * @module
 * What the process-driver benchmarks (./process.ts) measure with: how many samples each part takes (`--quick`
 * or not), the world sizes, and the Python that builds an N MB world. See bench/README.md.
 */
import type { Isolation } from '../src/index.js';

export interface ProcessBenchOptions {
  quick: boolean;
  isolation: Isolation;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** How many samples and how much idle time each part gets; `--quick` keeps the run near 30 s. */
export interface Plan {
  pyStartN: number;
  shimStartN: number;
  forkN: number;
  createN: number;
  /** Idle time after each pooled create, so the spare sandbox is started again before the next. */
  createGapMs: number;
  execN: number;
  snapshotN: number;
  branchN: number;
  /** Idle time after each pooled branch, so the snapshot's spares are forked again: per world size. */
  branchGapMs: Record<number, number>;
  idleBranches: number;
  rateN: number;
  rateNoPoolN: number;
  batchSize: number;
  batches: number;
  cpuBranches: number;
  cpuReps: number;
  cpuTargetMs: number;
}

export function plan(quick: boolean): Plan {
  return quick
    ? {
        pyStartN: 10,
        shimStartN: 3,
        forkN: 20,
        createN: 6,
        createGapMs: 400,
        execN: 50,
        snapshotN: 8,
        branchN: 10,
        branchGapMs: { 10: 60, 200: 150 },
        idleBranches: 100,
        rateN: 60,
        rateNoPoolN: 30,
        batchSize: 50,
        batches: 1,
        cpuBranches: 8,
        cpuReps: 1,
        cpuTargetMs: 300,
      }
    : {
        pyStartN: 30,
        shimStartN: 10,
        forkN: 60,
        createN: 25,
        createGapMs: 400,
        execN: 300,
        snapshotN: 30,
        branchN: 40,
        branchGapMs: { 10: 60, 200: 150 },
        idleBranches: 100,
        rateN: 200,
        rateNoPoolN: 100,
        batchSize: 50,
        batches: 4,
        cpuBranches: 8,
        cpuReps: 3,
        cpuTargetMs: 300,
      };
}

export const SIZES = [10, 200] as const;
export const PY = '/usr/bin/python3';

/**
 * Python that builds a world of about `mb` MB of live state: three quarters in one bytearray (every page
 * written), one quarter as a list of small tuples `(i, str(i), float(i))` (~170 bytes each), so the heap has
 * the many small GC-tracked objects a real program has, not only one big buffer.
 */
export function stateCode(mb: number): string {
  const bytes = Math.round(mb * 0.75 * 2 ** 20);
  const objects = Math.round((mb * 0.25 * 2 ** 20) / 170);
  return `x = bytearray(b'\\xa5') * ${bytes}\nobjs = [(i, str(i), float(i)) for i in range(${objects})]\nNone`;
}

/** Python: (RSS kB, AnonHugePages kB) of the running process. */
export const MEM_CODE = "(lambda t: (int(t.split('Rss:')[1].split()[0]), int(t.split('AnonHugePages:')[1].split()[0])))(open('/proc/self/smaps_rollup').read())";

export const STATE_RECIPE = 'N MB of state = bytearray(b"\\xa5") * 0.75N MiB (all pages written) + [(i, str(i), float(i)) for i in range(0.25N MiB / 170 B)]';

