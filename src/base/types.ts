/**
 * @module
 * Plain data shapes shared by the facade, the drivers and the clients, and the DuckDB record's vocabulary
 * (entity types and states, branch types) that the store, the daemon's wire format and the CLI all use.
 */

/** -1, 0 or +1: the GF(3) label of a world or verse. */
export type Trit = -1 | 0 | 1;

export type DriverName = 'process' | 'microvm' | 'e2b' | 'morph';
/**
 * How the process driver contains worlds (docs/security.md): `world` one trust domain per world (root),
 * `tree` one per fork tree (no root needed), `none` no sandbox; `auto` picks the strongest available.
 */
export type Isolation = 'auto' | 'world' | 'tree' | 'none';
/** Backend of the process driver's world filesystems (docs/process-driver.md); `auto` prefers btrfs. */
export type FsBackend = 'auto' | 'btrfs' | 'overlay' | 'copy';

/** Lifecycle of a world. `failed`: its process died or was killed; `collapsed`: lost a verse resolution. */
export type WorldState = 'starting' | 'running' | 'destroyed' | 'failed' | 'collapsed';
export type SnapshotState = 'ready' | 'destroyed';

export interface CreateOptions {
  trit?: Trit;
  /**
   * Memory the world may use, in MiB, an integer from 1 to 1048576 (1 TiB): all its processes together, its
   * /dev/shm and memfds (process driver: a cgroup per world where the machine allows, and an address-space
   * limit on its interpreter, so a big allocation there raises MemoryError). Branches inherit it. @default 512
   */
  memoryMib?: number;
  /**
   * Disk the world may write, in MiB, an integer from 1 to 1048576: its files and /tmp. Past it writes fail
   * inside the world with EDQUOT. Counts what the world itself wrote, not what it inherited; branches
   * inherit the limit. Enforced where the backend can (doctor says). @default 4096
   */
  diskMib?: number;
  /** Virtual CPUs, an integer from 1 to 256; the process driver records it (a world is one single-threaded process). @default 1 */
  vcpus?: number;
  /** Anything JSON, kept on the world as its JSON copy: at most 32 levels deep and 64 KiB as JSON. @default {} */
  metadata?: Record<string, unknown>;
}

export interface ExecOptions {
  /**
   * Interrupt the code after this many ms, a finite number from 1 to 86400000 (24 h); if it will not stop,
   * the world is killed and marked failed. @default 300000
   */
  timeoutMs?: number;
  /** Called with each chunk of output as it is produced. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
}

export interface ExecError {
  type: string;
  message: string;
  traceback: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** repr() of a trailing expression, when the code ends with one. */
  value?: string;
  error?: ExecError;
  /** True when output went past the cap (default 1 MiB) and was cut. */
  truncated: boolean;
  durationMs: number;
}

export interface RunOptions {
  /** Kill the command after this many ms, a finite number from 1 to 86400000 (24 h). @default 300000 (DEFAULT_TIMEOUT_MS, every driver) */
  timeoutMs?: number;
  /** Working directory, relative to the world's own directory (or absolute inside it). */
  cwd?: string;
  env?: Record<string, string>;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
}

export interface RunResult {
  /** Exit code, or null when the command was killed by a signal. */
  exitCode: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
}

export interface BranchOptions {
  /** Given to every new world, as for `create`: at most 32 levels deep and 64 KiB as JSON. @default {} */
  metadata?: Record<string, unknown>;
  /** One trit per new world. */
  trits?: Trit[];
  /** Keep the parent's random streams in every branch (default: reseed each branch). */
  sameRandom?: boolean;
}

// The DuckDB record's vocabulary: the values its CHECK constraints allow (src/store/schema.ts).

/**
 * `world_runtime_entities.entity_type`. The record's schema names `microvm`, `sandbox` and `verse`;
 * `snapshot` marks a snapshot's own row (a snapshot is a live, destroyable thing in every driver, and worlds
 * started from it point at it through `snapshot_id`).
 */
export type EntityType = 'sandbox' | 'microvm' | 'verse' | 'snapshot';

/** Every `entity_type` the store accepts. */
export const ENTITY_TYPES: readonly EntityType[] = ['sandbox', 'microvm', 'verse', 'snapshot'];

/**
 * `world_runtime_entities.state`.
 * - `running`: a live world.
 * - `snapshotted`: a snapshot row that is ready (frozen; worlds can start from it).
 * - `collapsed`: a verse world that lost a resolution.
 * - `destroyed`: ended on request (worlds and snapshots).
 * - `failed`: its process died or had to be killed.
 * - `lost`: was live when the owning process crashed; found by `markRunningAsLost` at the next start.
 */
export type EntityState = 'running' | 'snapshotted' | 'collapsed' | 'destroyed' | 'failed' | 'lost';

/** Every `state` the store accepts. */
export const ENTITY_STATES: readonly EntityState[] = ['running', 'snapshotted', 'collapsed', 'destroyed', 'failed', 'lost'];

/** `world_branches.branch_type`: its three values. */
export type BranchType = 'fork' | 'snapshot' | 'push_down';

/** Every `branch_type` the store accepts. */
export const BRANCH_TYPES: readonly BranchType[] = ['fork', 'snapshot', 'push_down'];

/** A world as JSON (`World.toJSON()`): what the daemon answers for it too. */
export interface WorldJSON {
  id: string;
  parentId: string | null;
  snapshotId: string | null;
  state: WorldState;
  trit: Trit | null;
  metadata: Record<string, unknown>;
  memoryMib: number;
  diskMib: number;
  vcpus: number;
  bootTimeMs: number;
  createdAt: string;
  failure?: string;
}

/** A snapshot as JSON (`Snapshot.toJSON()`). */
export interface SnapshotJSON {
  id: string;
  worldId: string;
  name: string | null;
  state: SnapshotState;
  snapshotTimeMs: number;
  createdAt: string;
}

/** A ledger verse as `Ledger.verses()` reports it, and the daemon answers it: plain JSON. */
export interface VerseInfo {
  id: string;
  /** `null` for the root. */
  parent: string | null;
  /** The event (partition) this verse is a child of; `null` for the root. */
  event: string | null;
  name: string | null;
  /** Canonical decimal string relative to the parent (`'1'` for the root), e.g. `'0.45'`. */
  probability: string;
  trit: Trit;
  /** True once the verse's own event is resolved. */
  resolved: boolean;
  /** After resolution of its event: true for the winner, false for a loser; `null` before. */
  outcome: boolean | null;
  /** True when the verse is impossible: it lost a resolution or descends from a loser. */
  collapsed: boolean;
  /** Events (partitions) created under this verse, in creation order. */
  events: string[];
  /** Child verse ids over all of its events, in creation order. */
  children: string[];
}
