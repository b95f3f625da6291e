/**
 * @module
 * Readers for the CLI and the HTTP API: plain objects, timestamps as ISO strings, lists as string[].
 * Newest rows first. Values go through bound parameters here: reads are off the hot path.
 */
import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { InvalidArgumentError } from '../base/errors.js';
import type { Trit } from '../base/types.js';
import {
  type BranchRow,
  type BranchType,
  ENTITY_STATES,
  ENTITY_TYPES,
  type EntityRow,
  type EntityState,
  type EntityType,
  type MetricOperation,
  type MetricRow,
  type MetricSummary,
  type ResolutionRow,
  type VerseWorldRow,
} from './types.js';

/** Filter for `Store.entities`. */
export interface EntityFilter {
  state?: EntityState;
  type?: EntityType;
  /** Only the row of this entity. */
  id?: string;
  /** At most this many rows (newest first). */
  limit?: number;
}

type Raw = Record<string, unknown>;

/**
 * FLOAT columns are 32-bit: 12.3 comes back as 12.300000190734863. Return the shortest decimal that is the
 * same float32, which is what was written whenever the writer's value fit in a float32.
 */
export function float32(v: unknown): number | null {
  if (typeof v !== 'number') return null;
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (Math.fround(candidate) === v) return candidate;
  }
  return v;
}

function iso(v: unknown): string | null {
  return v instanceof Date && !Number.isNaN(v.getTime()) ? v.toISOString() : null;
}

function strOrNull(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function intOrNull(v: unknown): number | null {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : null;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function limitClause(limit: number | undefined, values: DuckDBValue[]): string {
  if (limit === undefined) return '';
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(`limit: expected a positive integer, got ${String(limit)}`, { field: 'limit' });
  }
  values.push(limit);
  return ` LIMIT $${values.length}`;
}

async function rows(conn: DuckDBConnection, sql: string, values: DuckDBValue[]): Promise<Raw[]> {
  const reader = await conn.runAndReadAll(sql, values);
  return reader.getRowObjectsJS() as Raw[];
}

function entityRow(r: Raw): EntityRow {
  return {
    entityId: String(r.entity_id),
    entityType: String(r.entity_type) as EntityType,
    parentId: strOrNull(r.parent_id),
    snapshotId: strOrNull(r.snapshot_id),
    trit: intOrNull(r.trit) as Trit | null,
    state: String(r.state) as EntityState,
    memoryMib: intOrNull(r.memory_mib),
    vcpuCount: intOrNull(r.vcpu_count),
    bootTimeMs: float32(r.boot_time_ms),
    createdAt: iso(r.created_at),
    resolvedAt: iso(r.resolved_at),
  };
}

/** `world_runtime_entities`, newest first. */
export async function readEntities(conn: DuckDBConnection, filter: EntityFilter = {}): Promise<EntityRow[]> {
  const values: DuckDBValue[] = [];
  const where: string[] = [];
  if (filter.state !== undefined) {
    if (!ENTITY_STATES.includes(filter.state)) throw new InvalidArgumentError(`state: unknown state ${JSON.stringify(filter.state)}`);
    values.push(filter.state);
    where.push(`state = $${values.length}`);
  }
  if (filter.type !== undefined) {
    if (!ENTITY_TYPES.includes(filter.type)) throw new InvalidArgumentError(`type: unknown entity type ${JSON.stringify(filter.type)}`);
    values.push(filter.type);
    where.push(`entity_type = $${values.length}`);
  }
  if (filter.id !== undefined) {
    values.push(filter.id);
    where.push(`entity_id = $${values.length}`);
  }
  const sql = `SELECT * FROM world_runtime_entities${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC NULLS LAST, rowid DESC${limitClause(filter.limit, values)}`;
  return (await rows(conn, sql, values)).map(entityRow);
}

/**
 * `verse_worlds`, oldest first (the order of the push-downs), each with its world's entity row. `events`
 * narrows the read to the verses of those events.
 */
export async function readVerseWorlds(conn: DuckDBConnection, opts: { events?: readonly string[] } = {}): Promise<VerseWorldRow[]> {
  const values: DuckDBValue[] = [];
  let where = '';
  if (opts.events !== undefined) {
    if (opts.events.length === 0) return [];
    const marks = opts.events.map((e) => {
      values.push(e);
      return `$${values.length}`;
    });
    where = ` WHERE v.event IN (${marks.join(', ')})`;
  }
  const sql = `SELECT v.verse AS vw_verse, v.event AS vw_event, v.world_id AS vw_world_id, v.source_world_id AS vw_source,
  v.snapshot_id AS vw_snapshot, v.disk_mib AS vw_disk_mib, v.created_at AS vw_created_at, e.*
FROM verse_worlds v LEFT JOIN world_runtime_entities e ON e.entity_id = v.world_id${where}
ORDER BY v.created_at NULLS LAST, v.rowid`;
  return (await rows(conn, sql, values)).map((r) => ({
    verse: String(r.vw_verse),
    event: String(r.vw_event),
    worldId: String(r.vw_world_id),
    sourceWorldId: strOrNull(r.vw_source),
    snapshotId: strOrNull(r.vw_snapshot),
    diskMib: intOrNull(r.vw_disk_mib),
    createdAt: iso(r.vw_created_at),
    world: r.entity_id === null || r.entity_id === undefined ? null : entityRow(r),
  }));
}

/** `world_branches`, newest first. */
export async function readBranches(conn: DuckDBConnection, opts: { limit?: number } = {}): Promise<BranchRow[]> {
  const values: DuckDBValue[] = [];
  const sql = `SELECT * FROM world_branches ORDER BY branched_at DESC NULLS LAST, rowid DESC${limitClause(opts.limit, values)}`;
  return (await rows(conn, sql, values)).map((r) => ({
    branchId: String(r.branch_id),
    parentEntityId: strOrNull(r.parent_entity_id),
    childEntityIds: strings(r.child_entity_ids),
    branchType: strOrNull(r.branch_type) as BranchType | null,
    snapshotTimeMs: float32(r.snapshot_time_ms),
    gf3Sum: intOrNull(r.gf3_sum),
    branchedAt: iso(r.branched_at),
  }));
}

/** `verse_resolutions`, newest first. */
export async function readResolutions(conn: DuckDBConnection, opts: { limit?: number } = {}): Promise<ResolutionRow[]> {
  const values: DuckDBValue[] = [];
  const sql = `SELECT * FROM verse_resolutions ORDER BY resolved_at DESC NULLS LAST, rowid DESC${limitClause(opts.limit, values)}`;
  return (await rows(conn, sql, values)).map((r) => ({
    resolutionId: String(r.resolution_id),
    verses: strings(r.verses),
    winningVerse: strOrNull(r.winning_verse),
    oracleSource: strOrNull(r.oracle_source),
    wevExtracted: float32(r.wev_extracted),
    pullUpTimeMs: float32(r.pull_up_time_ms),
    resolvedAt: iso(r.resolved_at),
  }));
}

/** `runtime_metrics`, newest first. */
export async function readMetrics(conn: DuckDBConnection, opts: { limit?: number } = {}): Promise<MetricRow[]> {
  const values: DuckDBValue[] = [];
  const sql = `SELECT * FROM runtime_metrics ORDER BY measured_at DESC NULLS LAST, rowid DESC${limitClause(opts.limit, values)}`;
  return (await rows(conn, sql, values)).map((r) => ({
    metricId: String(r.metric_id),
    entityId: strOrNull(r.entity_id),
    bootTimeMs: float32(r.boot_time_ms),
    snapshotTimeMs: float32(r.snapshot_time_ms),
    branchTimeMs: float32(r.branch_time_ms),
    memoryOverheadMb: float32(r.memory_overhead_mb),
    measuredAt: iso(r.measured_at),
  }));
}

/** Which column each summarised operation reads. */
const SUMMARY_SOURCES: readonly { operation: MetricOperation; table: string; column: string; unit: 'ms' | 'MB' }[] = [
  { operation: 'create', table: 'runtime_metrics', column: 'boot_time_ms', unit: 'ms' },
  { operation: 'snapshot', table: 'runtime_metrics', column: 'snapshot_time_ms', unit: 'ms' },
  { operation: 'branch', table: 'runtime_metrics', column: 'branch_time_ms', unit: 'ms' },
  { operation: 'memory', table: 'runtime_metrics', column: 'memory_overhead_mb', unit: 'MB' },
  { operation: 'pull_up', table: 'verse_resolutions', column: 'pull_up_time_ms', unit: 'ms' },
];

/** Rounded to 0.001 (µs for timings): percentiles of float32 samples carry no more precision than that. */
function round3(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 1000) / 1000 : null;
}

/**
 * Count, p50, p99, min, max and mean per operation. p50/p99 are `quantile_cont` (linear interpolation
 * between the closest samples, as numpy's default). An operation with no samples has count 0 and nulls.
 */
export async function readMetricSummary(conn: DuckDBConnection): Promise<MetricSummary[]> {
  const parts = SUMMARY_SOURCES.map(
    (s, i) => `SELECT ${i} AS pos, count(${s.column}) AS n,
  quantile_cont(${s.column}::DOUBLE, 0.5) AS p50, quantile_cont(${s.column}::DOUBLE, 0.99) AS p99,
  min(${s.column})::DOUBLE AS lo, max(${s.column})::DOUBLE AS hi, avg(${s.column}::DOUBLE) AS mean
FROM ${s.table}`,
  );
  const found = await rows(conn, `${parts.join('\nUNION ALL\n')}\nORDER BY pos`, []);
  return SUMMARY_SOURCES.map((s, i) => {
    const r = found.find((x) => Number(x.pos) === i) ?? {};
    return {
      operation: s.operation,
      source: `${s.table}.${s.column}`,
      unit: s.unit,
      count: Number(r.n ?? 0),
      p50: round3(r.p50),
      p99: round3(r.p99),
      min: float32(typeof r.lo === 'number' ? Math.fround(r.lo) : null),
      max: float32(typeof r.hi === 'number' ? Math.fround(r.hi) : null),
      mean: round3(r.mean),
    };
  });
}
