/**
 * @module
 * The daemon's one view of the runtime's DuckDB record. `WorldRuntime` exposes it as `rt.record` (a `Store`
 * from src/store, undefined with `record: false`); `recordOf` is the single place that reaches for it.
 */
import type { WorldRuntime } from '../core/runtime.js';
import type { EntityFilter } from '../store/read.js';
import type { BranchRow, EntityRow, MetricRow, MetricSummary, ResolutionRow } from '../store/types.js';

/** The readers the daemon uses (a subset of `Store`). */
export interface RecordReader {
  entities(filter?: EntityFilter): Promise<EntityRow[]>;
  branches(opts?: { limit?: number }): Promise<BranchRow[]>;
  resolutions(opts?: { limit?: number }): Promise<ResolutionRow[]>;
  metrics(opts?: { limit?: number }): Promise<MetricRow[]>;
  metricSummary(): Promise<MetricSummary[]>;
}

/** The runtime's record, or null when it keeps none (opened with `record: false`, or a build without it). */
export function recordOf(rt: WorldRuntime): RecordReader | null {
  return rt.record ?? null;
}
