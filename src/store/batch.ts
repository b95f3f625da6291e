/**
 * @module
 * Turns a slice of the write-behind queue into the SQL of one transaction.
 *
 * Order matters because of the FOREIGN KEYs of migration 1 (`world_branches.parent_entity_id` and
 * `runtime_metrics.entity_id` → `world_runtime_entities`): DuckDB checks them per statement, not at commit.
 * The batch therefore runs as: insert the batch's entities, then apply updates to entities from earlier
 * batches, then insert branches, metrics, resolutions and verse worlds (migration 2's table, which references
 * nothing). Every FK target is then either already in the table or inserted by the first statement. An update of an entity inserted in the same batch is folded into its
 * insert, which gives the same final row as running the calls one by one.
 *
 * DuckDB (1.5) does allow `UPDATE` of a non-key column of a row that other tables reference; it only refuses
 * changes that touch the key, and (found by test) any `UPDATE … RETURNING` on such a row. So updates here
 * never use RETURNING.
 */
import type { BranchRec, EntityRec, MetricRec, Op, PatchRec, ResolutionRec, VerseWorldRec } from './ops.js';
import { bool, numOrNull, str, strListOrNull, strOrNull, tsOrNull } from './sql.js';

const ENTITY_COLS = 'entity_id, entity_type, parent_id, snapshot_id, trit, state, memory_mib, vcpu_count, boot_time_ms, created_at, resolved_at';
const BRANCH_COLS = 'branch_id, parent_entity_id, child_entity_ids, branch_type, snapshot_time_ms, gf3_sum, branched_at';
const METRIC_COLS = 'metric_id, entity_id, boot_time_ms, snapshot_time_ms, branch_time_ms, memory_overhead_mb, measured_at';
const RESOLUTION_COLS = 'resolution_id, verses, winning_verse, oracle_source, wev_extracted, pull_up_time_ms, resolved_at';
const VERSE_WORLD_COLS = 'verse, event, world_id, source_world_id, snapshot_id, disk_mib, created_at';

function entityTuple(r: EntityRec): string {
  return `(${str(r.entityId)}, ${str(r.entityType)}, ${strOrNull(r.parentId)}, ${strOrNull(r.snapshotId)}, ${numOrNull(r.trit)}, ${str(r.state)}, ${numOrNull(r.memoryMib)}, ${numOrNull(r.vcpuCount)}, ${numOrNull(r.bootTimeMs)}, ${tsOrNull(r.createdAt)}, ${tsOrNull(r.resolvedAt)})`;
}

function branchTuple(r: BranchRec): string {
  return `(${str(r.branchId)}, ${strOrNull(r.parentEntityId)}, ${strListOrNull(r.childEntityIds)}, ${str(r.branchType)}, ${numOrNull(r.snapshotTimeMs)}, ${numOrNull(r.gf3Sum)}, ${tsOrNull(r.branchedAt)})`;
}

function metricTuple(r: MetricRec): string {
  return `(${str(r.metricId)}, ${strOrNull(r.entityId)}, ${numOrNull(r.bootTimeMs)}, ${numOrNull(r.snapshotTimeMs)}, ${numOrNull(r.branchTimeMs)}, ${numOrNull(r.memoryOverheadMb)}, ${tsOrNull(r.measuredAt)})`;
}

function resolutionTuple(r: ResolutionRec): string {
  return `(${str(r.resolutionId)}, ${strListOrNull(r.verses)}, ${strOrNull(r.winningVerse)}, ${strOrNull(r.oracleSource)}, ${numOrNull(r.wevExtracted)}, ${numOrNull(r.pullUpTimeMs)}, ${tsOrNull(r.resolvedAt)})`;
}

function verseWorldTuple(r: VerseWorldRec): string {
  return `(${str(r.verse)}, ${str(r.event)}, ${str(r.worldId)}, ${strOrNull(r.sourceWorldId)}, ${strOrNull(r.snapshotId)}, ${numOrNull(r.diskMib)}, ${tsOrNull(r.createdAt)})`;
}

function insert(table: string, cols: string, tuples: string[]): string {
  return `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(',\n')}`;
}

/**
 * One UPDATE for many entities: each row says which of the three columns it sets (the `set_*` flags), so
 * a patch that only changes `state` leaves `resolved_at` alone.
 */
function updateMany(patches: Map<string, PatchRec>): string {
  const rows: string[] = [];
  for (const [id, p] of patches) {
    rows.push(
      `(${str(id)}, ${bool(p.state !== undefined)}, ${strOrNull(p.state ?? null)}::VARCHAR, ${bool(p.resolvedAt !== undefined)}, ${tsOrNull(p.resolvedAt ?? null)}::TIMESTAMP, ${bool(p.snapshotId !== undefined)}, ${strOrNull(p.snapshotId ?? null)}::VARCHAR)`,
    );
  }
  return `UPDATE world_runtime_entities AS e SET
  state = CASE WHEN u.set_state THEN u.state ELSE e.state END,
  resolved_at = CASE WHEN u.set_resolved THEN u.resolved_at ELSE e.resolved_at END,
  snapshot_id = CASE WHEN u.set_snapshot THEN u.snapshot_id ELSE e.snapshot_id END
FROM (VALUES ${rows.join(',\n')}) AS u(entity_id, set_state, state, set_resolved, resolved_at, set_snapshot, snapshot_id)
WHERE e.entity_id = u.entity_id`;
}

function applyPatch(row: EntityRec, p: PatchRec): void {
  if (p.state !== undefined) row.state = p.state;
  if (p.resolvedAt !== undefined) row.resolvedAt = p.resolvedAt;
  if (p.snapshotId !== undefined) row.snapshotId = p.snapshotId;
}

function mergePatch(into: PatchRec, p: PatchRec): void {
  if (p.state !== undefined) into.state = p.state;
  if (p.resolvedAt !== undefined) into.resolvedAt = p.resolvedAt;
  if (p.snapshotId !== undefined) into.snapshotId = p.snapshotId;
}

/** The statements of one batch transaction, in the order they must run (see the module note). */
export function planBatch(ops: readonly Op[]): string[] {
  const inserted = new Map<string, EntityRec>();
  const entities: EntityRec[] = [];
  const updates = new Map<string, PatchRec>();
  const branches: string[] = [];
  const metrics: string[] = [];
  const resolutions: string[] = [];
  const verseWorlds: string[] = [];
  for (const op of ops) {
    switch (op.kind) {
      case 'entity': {
        // Copy: folding later patches in must not change the queued op (it may be replayed one by one).
        const row = { ...op.row };
        entities.push(row);
        if (!inserted.has(row.entityId)) inserted.set(row.entityId, row);
        // An update queued before its entity's insert matched nothing when it was made; drop it. (If the row
        // already existed, this insert fails and the batch is replayed op by op, which applies it.)
        updates.delete(row.entityId);
        break;
      }
      case 'update': {
        const row = inserted.get(op.entityId);
        if (row) applyPatch(row, op.patch);
        else mergePatch(updates.get(op.entityId) ?? setNew(updates, op.entityId), op.patch);
        break;
      }
      case 'branch':
        branches.push(branchTuple(op.row));
        break;
      case 'metric':
        metrics.push(metricTuple(op.row));
        break;
      case 'resolution':
        resolutions.push(resolutionTuple(op.row));
        break;
      case 'verseWorld':
        verseWorlds.push(verseWorldTuple(op.row));
        break;
    }
  }
  const sql: string[] = [];
  if (entities.length > 0) sql.push(insert('world_runtime_entities', ENTITY_COLS, entities.map(entityTuple)));
  if (updates.size > 0) sql.push(updateMany(updates));
  if (branches.length > 0) sql.push(insert('world_branches', BRANCH_COLS, branches));
  if (metrics.length > 0) sql.push(insert('runtime_metrics', METRIC_COLS, metrics));
  if (resolutions.length > 0) sql.push(insert('verse_resolutions', RESOLUTION_COLS, resolutions));
  if (verseWorlds.length > 0) sql.push(insert('verse_worlds', VERSE_WORLD_COLS, verseWorlds));
  return sql;
}

function setNew(map: Map<string, PatchRec>, id: string): PatchRec {
  const p: PatchRec = {};
  map.set(id, p);
  return p;
}

/** The single statement for one op, used when a batch fails and is replayed op by op to find the bad row. */
export function opStatement(op: Op): string {
  const [sql] = planBatch([op]);
  return sql ?? 'SELECT 1';
}

/** The id a report about this op should name. */
export function opLabel(op: Op): string {
  switch (op.kind) {
    case 'entity':
      return `entity ${op.row.entityId}`;
    case 'update':
      return `update of entity ${op.entityId}`;
    case 'branch':
      return `branch ${op.row.branchId}`;
    case 'metric':
      return `metric ${op.row.metricId}`;
    case 'resolution':
      return `resolution ${op.row.resolutionId}`;
    case 'verseWorld':
      return `verse world ${op.row.verse}`;
  }
}
