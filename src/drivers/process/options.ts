/**
 * @module
 * What `ProcessDriver.open` takes, and the sizes of its two warm pools (docs/process-driver.md, "Pools"),
 * named as `WorldRuntime.open({ pool })` names them.
 */
import { InvalidArgumentError } from '../../base/errors.js';
import { MAX_POOL } from '../../base/limits.js';
import type { FsBackend, Isolation } from '../../base/types.js';

export interface ProcessDriverOptions {
  /** State directory; worlds' layers live under it (or under its btrfs image, `<home>/fs`). */
  home: string;
  isolation?: Isolation;
  /** Backend of the world filesystem layer. @default 'auto' */
  fs?: FsBackend;
  /** Python interpreter for the agent. @default $WORLD_RUNTIME_PYTHON, else /usr/bin/python3, else python3 on PATH */
  python?: string;
  /** Grace after an interrupt before a world that will not stop is killed. @default 2000 */
  interruptGraceMs?: number;
  /**
   * The warm pools, as `WorldRuntime.open({ pool })` names them: `worlds` started trees, each with a spare
   * world, kept for `create` (0: every create is a cold start), and `branchesPerSnapshot` pre-born branches
   * each snapshot keeps (0: every branch forks on the spot). `setPool` changes them while the driver runs.
   * @default { worlds: 1, branchesPerSnapshot: 2 }
   */
  pool?: Partial<PoolSizes>;
  /** Where warnings go (no per-world isolation, files copied, ...). @default console.warn */
  warn?: (msg: string) => void;
  /** Longest line an agent may send (src/drivers/lines.ts). @default DEFAULT_MAX_LINE_BYTES (16 MiB) */
  maxLineBytes?: number;
}

export interface PoolSizes {
  worlds: number;
  branchesPerSnapshot: number;
}

/** The pools' sizes now, and what they hold ready (see `ProcessDriver.poolState`). */
export interface PoolState extends PoolSizes {
  /** Started trees with a spare world, ready for `create`. */
  readyWorlds: number;
  /** Pre-born branches the snapshot asked about holds ready (0 without one, or for an unknown one). */
  readyBranches: number;
}

/** Pool sizes given (some may be missing) as whole sizes: each an integer from 0 to MAX_POOL, else `fallback`'s. */
export function poolSizes(given: Partial<PoolSizes> | undefined, fallback: PoolSizes): PoolSizes {
  return {
    worlds: poolSize('pool.worlds', given?.worlds, fallback.worlds),
    branchesPerSnapshot: poolSize('pool.branchesPerSnapshot', given?.branchesPerSnapshot, fallback.branchesPerSnapshot),
  };
}

function poolSize(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0 || value > MAX_POOL) throw new InvalidArgumentError(`${name} must be an integer from 0 to ${MAX_POOL}, got ${value}`);
  return value;
}
