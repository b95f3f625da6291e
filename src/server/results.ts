/**
 * @module
 * The JSON shapes the daemon answers with, one per action kind (`ActionResults`). `openapi.json` describes
 * the same shapes; the server tests hold every response to it.
 */
import type { DoctorReport } from '../core/runtime.js';
import type { ExecError, RunResult, Trit, WorldState } from '../core/types.js';
import type { BranchRow, EntityRow, MetricRow, MetricSummary, ResolutionRow } from '../store/types.js';
import type { ActionKind } from './actions.js';

/** A world as `World.toJSON()` gives it. */
export interface WorldInfo {
  id: string;
  parentId: string | null;
  snapshotId: string | null;
  state: WorldState;
  trit: Trit | null;
  metadata: Record<string, unknown>;
  memoryMib: number;
  vcpus: number;
  bootTimeMs: number;
  createdAt: string;
  failure?: string;
}

/** A snapshot as `Snapshot.toJSON()` gives it. */
export interface SnapshotInfo {
  id: string;
  worldId: string;
  name: string | null;
  state: 'ready' | 'destroyed';
  snapshotTimeMs: number;
  createdAt: string;
}

/** `ExecResult` with `value` and `error` always present (null when absent), as the seed's execute returns. */
export interface ExecReply {
  stdout: string;
  stderr: string;
  value: string | null;
  error: ExecError | null;
  truncated: boolean;
  durationMs: number;
}

export type RunReply = RunResult;

export interface DestroyReply {
  id: string;
  state: 'destroyed';
}

/**
 * The seed's targets (create ~250 ms, snapshot < 250 ms, branch < 250 ms), shown beside the measured
 * percentiles by `GET /v1/metrics` and `world-runtime metrics`.
 */
export const METRIC_TARGETS_MS: Readonly<Record<string, number>> = { create: 250, snapshot: 250, branch: 250 };

export interface MetricSummaryReply extends MetricSummary {
  /** The seed's target for this operation, in ms; null when it names none. */
  targetMs: number | null;
  /** p99 ≤ target; null without a target or without samples. */
  withinTarget: boolean | null;
}

export interface MetricsReply {
  summary: MetricSummaryReply[];
  /** The most recent `runtime_metrics` rows (as many as `limit`, default 20). */
  rows: MetricRow[];
}

export interface HealthReply {
  ok: true;
  pid: number;
  home: string;
  version: string;
  uptimeMs: number;
  worlds: number;
  snapshots: number;
  /** Whether the daemon's runtime keeps a DuckDB record (entities, branches, ... answer only when true). */
  record: boolean;
  transport: 'unix' | 'tcp';
}

export interface DoctorReply extends DoctorReport {
  daemon: { pid: number; version: string; socket: string; tcp: string | null; maxWorlds: number; record: boolean };
}

/** What each action answers with. `world.readFile` answers raw bytes. */
export interface ActionResults {
  'world.create': WorldInfo;
  'world.list': { worlds: WorldInfo[] };
  'world.get': WorldInfo;
  'world.destroy': DestroyReply;
  'world.exec': ExecReply;
  'world.run': RunReply;
  'world.writeFile': { path: string; bytes: number };
  'world.readFile': Uint8Array;
  'world.snapshot': SnapshotInfo;
  'world.branch': { worlds: WorldInfo[] };
  'snapshot.list': { snapshots: SnapshotInfo[] };
  'snapshot.get': SnapshotInfo;
  'snapshot.destroy': DestroyReply;
  'snapshot.branch': { worlds: WorldInfo[] };
  'sandbox.create': WorldInfo;
  'sandbox.snapshot': SnapshotInfo & { snapshot_id: string };
  'sandbox.execute': ExecReply;
  'record.entities': { entities: EntityRow[] };
  'record.branches': { branches: BranchRow[] };
  'record.resolutions': { resolutions: ResolutionRow[] };
  'record.metrics': MetricsReply;
  'system.doctor': DoctorReply;
  'system.health': HealthReply;
}

export type ResultOf<K extends ActionKind> = ActionResults[K];
