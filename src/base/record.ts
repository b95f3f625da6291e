/**
 * @module
 * The record's rows as read back (`world_runtime_entities`, `world_branches`, `verse_resolutions`,
 * `runtime_metrics`) and the metric summaries made from them: plain JSON, shared by the store that reads
 * them and the daemon that answers with them.
 */
import type { BranchType, EntityState, EntityType, Trit } from './types.js';

/** A `world_runtime_entities` row as read back. Timestamps are ISO-8601 strings (UTC, millisecond precision). */
export interface EntityRow {
  entityId: string;
  entityType: EntityType;
  parentId: string | null;
  snapshotId: string | null;
  trit: Trit | null;
  state: EntityState;
  memoryMib: number | null;
  vcpuCount: number | null;
  bootTimeMs: number | null;
  createdAt: string | null;
  resolvedAt: string | null;
}

/** A `world_branches` row as read back. */
export interface BranchRow {
  branchId: string;
  parentEntityId: string | null;
  childEntityIds: string[];
  branchType: BranchType | null;
  snapshotTimeMs: number | null;
  gf3Sum: number | null;
  branchedAt: string | null;
}

/** A `verse_resolutions` row as read back. */
export interface ResolutionRow {
  resolutionId: string;
  verses: string[];
  winningVerse: string | null;
  oracleSource: string | null;
  wevExtracted: number | null;
  pullUpTimeMs: number | null;
  resolvedAt: string | null;
}

/** A `runtime_metrics` row as read back. */
export interface MetricRow {
  metricId: string;
  entityId: string | null;
  bootTimeMs: number | null;
  snapshotTimeMs: number | null;
  branchTimeMs: number | null;
  memoryOverheadMb: number | null;
  measuredAt: string | null;
}

/** An operation summarised by `metricSummary`, and the column it is read from. */
export type MetricOperation = 'create' | 'snapshot' | 'branch' | 'memory' | 'pull_up';

/** Count and percentiles of one operation's recorded timings (or memory). */
export interface MetricSummary {
  operation: MetricOperation;
  /** `table.column` the figures come from. */
  source: string;
  unit: 'ms' | 'MB';
  count: number;
  /** Median (linear interpolation between samples); null when count is 0. */
  p50: number | null;
  p99: number | null;
  min: number | null;
  max: number | null;
  mean: number | null;
}
