/**
 * @module
 * The DuckDB record: its four tables (world_runtime_entities, world_branches, verse_resolutions,
 * runtime_metrics), versioned migrations, write-behind recording and readers.
 * See docs/store.md.
 */
export { runMigrations, SchemaTooNewError } from './migrate.js';
export type { EntityFilter } from './read.js';
export { type Migration, SEED_SCHEMA_SQL, STORE_MIGRATIONS, STORE_MIGRATIONS_TABLE, STORE_SCHEMA_VERSION } from './schema.js';
export { Store, type StoreOptions } from './store.js';
export * from './types.js';
export type { StoreErrorHandler, StoreErrorInfo, WriteStats } from './writer.js';
