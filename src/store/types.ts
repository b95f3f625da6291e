/**
 * @module
 * Row shapes of the DuckDB record: what callers pass to the `record*` methods and what the readers return.
 * Field names are the tables' column names in camelCase (`entity_id` → `entityId`).
 */
import type { EntityRow } from '../base/record.js';
import type { BranchType, EntityState, EntityType, Trit } from '../base/types.js';

// The record's vocabulary (entity types and states, branch types) lives in base/types.ts, where the
// daemon's wire format and the CLI read it too.
export { BRANCH_TYPES, type BranchType, ENTITY_STATES, ENTITY_TYPES, type EntityState, type EntityType } from '../base/types.js';

/** A new `world_runtime_entities` row. Omitted optional fields are NULL; `state` defaults to `running`. */
export interface EntityInput {
  entityId: string;
  entityType: EntityType;
  parentId?: string | null;
  snapshotId?: string | null;
  trit?: Trit | null;
  state?: EntityState;
  memoryMib?: number | null;
  vcpuCount?: number | null;
  bootTimeMs?: number | null;
  /** @default the time of the `recordEntity` call (not of the later flush) */
  createdAt?: Date;
  resolvedAt?: Date | null;
}

/** A change to an existing entity: only the fields present are written. */
export interface EntityPatch {
  state?: EntityState;
  resolvedAt?: Date | null;
  snapshotId?: string | null;
}

/** A new `world_branches` row: one branching event. */
export interface BranchInput {
  branchId: string;
  /** The world (or, for a branch from a snapshot, the snapshot) the children came from. */
  parentEntityId: string | null;
  /** The new worlds (or, for `branch_type` `snapshot`, the new snapshot's id). */
  childEntityIds: readonly string[];
  branchType: BranchType;
  snapshotTimeMs?: number | null;
  /** Sum of the children's trits (the GF(3) balance; 0 mod 3 for a balanced push-down). */
  gf3Sum?: number | null;
  /** @default the time of the `recordBranch` call */
  branchedAt?: Date;
}

/** A new `runtime_metrics` row: the timings of one operation. Columns left out are NULL. */
export interface MetricInput {
  /** @default a random UUID */
  metricId?: string;
  entityId?: string | null;
  /** Set by `create`. */
  bootTimeMs?: number | null;
  /** Set by `snapshot`. */
  snapshotTimeMs?: number | null;
  /** Set by `branch`. */
  branchTimeMs?: number | null;
  memoryOverheadMb?: number | null;
  /** @default the time of the `recordMetric` call */
  measuredAt?: Date;
}

/** A new `verse_resolutions` row. */
export interface ResolutionInput {
  resolutionId: string;
  verses: readonly string[];
  winningVerse: string | null;
  oracleSource?: string | null;
  wevExtracted?: number | null;
  pullUpTimeMs?: number | null;
  /** @default the time of the `recordResolution` call */
  resolvedAt?: Date;
}

/** A new `verse_worlds` row: the world of one child verse of a push-down. */
export interface VerseWorldInput {
  /** Ledger verse id, `<event>/<name>`. */
  verse: string;
  event: string;
  worldId: string;
  sourceWorldId?: string | null;
  snapshotId?: string | null;
  diskMib?: number | null;
  /** @default the time of the `recordVerseWorld` call */
  createdAt?: Date;
}

/** A `verse_worlds` row as read back, with the `world_runtime_entities` row of its world (null when the record has none). */
export interface VerseWorldRow {
  verse: string;
  event: string;
  worldId: string;
  sourceWorldId: string | null;
  snapshotId: string | null;
  diskMib: number | null;
  createdAt: string | null;
  world: EntityRow | null;
}

export type { BranchRow, EntityRow, MetricOperation, MetricRow, MetricSummary, ResolutionRow } from '../base/record.js';
