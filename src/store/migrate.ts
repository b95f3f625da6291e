/**
 * @module
 * Versioned migrations. A table (by default `schema_migrations`) lists the versions applied; each pending
 * migration runs in its own transaction together with its bookkeeping row, so a crash mid-migration leaves
 * the database at the previous version. Exported for the ledger, which keeps its own tables (and its own
 * migrations table) in the same file.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { InvalidArgumentError, WorldRuntimeError } from '../base/errors.js';
import type { Migration } from './schema.js';
import { str } from './sql.js';

/**
 * The database was written by a newer world-runtime (its schema version is above what this code knows).
 * Opening it anyway could misread or damage rows, so it is refused; upgrade world-runtime or use another home.
 * Code `WRONG_STATE` (there is no dedicated code in core/errors.ts).
 */
export class SchemaTooNewError extends WorldRuntimeError {
  override name = 'SchemaTooNewError';
  constructor(dbPath: string, table: string, found: number, supported: number) {
    super(
      'WRONG_STATE',
      `database ${dbPath} has schema version ${found} (${table}) but this world-runtime supports up to ${supported}; upgrade world-runtime or use another home`,
      { details: { dbPath, table, found, supported } },
    );
  }
}

/** Throws unless versions are 1, 2, 3, … in order: a gap or duplicate is a programming error. */
function checkSequence(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new InvalidArgumentError(`migration #${i} has version ${m.version}; expected ${i + 1}`);
  });
}

/** Highest version recorded in `table` (0 for a new database). */
export async function currentVersion(conn: DuckDBConnection, table: string): Promise<number> {
  const reader = await conn.runAndReadAll(`SELECT coalesce(max(version), 0) AS v FROM ${table}`);
  return Number(reader.getRows()[0]?.[0] ?? 0);
}

/**
 * Bring the database up to the last of `migrations`, recording each in `table` (created when missing).
 * Idempotent: applied versions are skipped. Refuses a database whose recorded version is newer.
 * @returns the versions applied by this call
 * @throws {SchemaTooNewError} when `table` holds a version above the last migration
 */
export async function runMigrations(conn: DuckDBConnection, migrations: readonly Migration[], options: { table: string; dbPath: string }): Promise<number[]> {
  checkSequence(migrations);
  const { table, dbPath } = options;
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw new InvalidArgumentError(`bad migrations table name ${JSON.stringify(table)}`);
  await conn.run(`CREATE TABLE IF NOT EXISTS ${table} (
  version INTEGER PRIMARY KEY,
  name VARCHAR NOT NULL,
  applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`);
  const latest = migrations.length;
  const found = await currentVersion(conn, table);
  if (found > latest) throw new SchemaTooNewError(dbPath, table, found, latest);
  const applied: number[] = [];
  for (const m of migrations.slice(found)) {
    await conn.run('BEGIN TRANSACTION');
    try {
      await conn.run(m.sql);
      await conn.run(`INSERT INTO ${table} (version, name) VALUES (${m.version}, ${str(m.name)})`);
      await conn.run('COMMIT');
    } catch (err) {
      await conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
    applied.push(m.version);
  }
  return applied;
}
