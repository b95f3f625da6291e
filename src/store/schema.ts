/**
 * @module
 * The store's schema as numbered migrations. Migration 1 is the DDL of the original world-runtime spec
 * (its "DuckDB Schema" section), verbatim: the record's four tables are the public record other tools
 * query, so their names, columns, types, CHECKs, DEFAULTs and REFERENCES must not drift. Later changes go in new migrations, never edits to old ones.
 */

/** One schema step. `sql` may hold several statements; it runs in one transaction with its bookkeeping row. */
export interface Migration {
  /** 1, 2, 3, … with no gaps: the order they apply in. */
  readonly version: number;
  /** Short human label, stored in the migrations table. */
  readonly name: string;
  readonly sql: string;
}

/**
 * The DDL of the original description (docs/origin.md, "Its record"), character for character, including its comments
 * and its own `CREATE TABLE IF NOT EXISTS`: the record's four tables as other tools expect them.
 */
export const SEED_SCHEMA_SQL = `-- WorldRuntime entities
CREATE TABLE IF NOT EXISTS world_runtime_entities (
  entity_id VARCHAR PRIMARY KEY,
  entity_type VARCHAR NOT NULL,  -- 'microvm', 'sandbox', 'verse'
  parent_id VARCHAR,
  snapshot_id VARCHAR,
  trit INT CHECK (trit IN (-1, 0, 1)),
  state VARCHAR DEFAULT 'running',  -- 'running', 'snapshotted', 'collapsed'
  memory_mib INT,
  vcpu_count INT,
  boot_time_ms FLOAT,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  resolved_at TIMESTAMP
);

-- Branching events
CREATE TABLE IF NOT EXISTS world_branches (
  branch_id VARCHAR PRIMARY KEY,
  parent_entity_id VARCHAR REFERENCES world_runtime_entities(entity_id),
  child_entity_ids VARCHAR[],  -- Array of child entity IDs
  branch_type VARCHAR,  -- 'push_down', 'fork', 'snapshot'
  snapshot_time_ms FLOAT,
  gf3_sum INT,
  branched_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- Verse resolutions
CREATE TABLE IF NOT EXISTS verse_resolutions (
  resolution_id VARCHAR PRIMARY KEY,
  verses VARCHAR[],  -- Participating verse IDs
  winning_verse VARCHAR,
  oracle_source VARCHAR,
  wev_extracted FLOAT,
  pull_up_time_ms FLOAT,
  resolved_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

-- Performance metrics
CREATE TABLE IF NOT EXISTS runtime_metrics (
  metric_id VARCHAR PRIMARY KEY,
  entity_id VARCHAR REFERENCES world_runtime_entities(entity_id),
  boot_time_ms FLOAT,
  snapshot_time_ms FLOAT,
  branch_time_ms FLOAT,
  memory_overhead_mb FLOAT,
  measured_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
`;

/**
 * Migration 2: which world lives in which ledger verse. The four tables of migration 1 cannot say it (a
 * push-down's `world_branches` row names the worlds, the ledger names the verses, and nothing joins them), so
 * without it an event of an earlier daemon could not be shown with its worlds. One row per child verse of a
 * push-down; `disk_mib` is the verse world's disk limit, which `world_runtime_entities` does not keep.
 */
export const VERSE_WORLDS_SQL = `CREATE TABLE IF NOT EXISTS verse_worlds (
  verse VARCHAR PRIMARY KEY,  -- ledger verse id, <event>/<name>
  event VARCHAR NOT NULL,  -- the ledger event (partition) the verse is a child of
  world_id VARCHAR NOT NULL,  -- the verse's world (world_runtime_entities.entity_id)
  source_world_id VARCHAR,  -- the world that was pushed down
  snapshot_id VARCHAR,  -- the snapshot taken at the push-down
  disk_mib INT,
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
`;

/** Every migration of the store's own tables, oldest first. */
export const STORE_MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'seed schema', sql: SEED_SCHEMA_SQL },
  { version: 2, name: 'verse worlds', sql: VERSE_WORLDS_SQL },
];

/**
 * The schema version this code writes and understands (the highest migration). A database whose
 * `schema_migrations` holds a higher version was written by a newer world-runtime and is refused.
 */
export const STORE_SCHEMA_VERSION: number = STORE_MIGRATIONS[STORE_MIGRATIONS.length - 1]?.version ?? 0;

/** Name of the table that records which store migrations have run. */
export const STORE_MIGRATIONS_TABLE = 'schema_migrations';
