/**
 * @module
 * The ledger's DuckDB tables (all prefixed `ledger_`), their schema version, and the serialised connection
 * every ledger statement goes through.
 */

import type { DuckDBConnection } from '@duckdb/node-api';
import { ROOT_VERSE } from './types.js';
import { rootRecord } from './state.js';
import { verseValues } from './sql.js';
import { ledgerError } from './validate.js';

/**
 * Version of the tables below, stored in `ledger_meta` under `schema_version`. Bump it on any change a
 * previous reader would misread; `Ledger.open` refuses a database whose version differs.
 */
export const LEDGER_SCHEMA_VERSION = 1;

/**
 * Each journal row carries, beside the operation, the after-image of every balance it changed
 * (`balances`: JSON `[[verse, owner, asset, "amount"], …]`, amount "0" = entry gone). So a batch is ONE
 * INSERT, which is what makes group commit cheap (DuckDB pays ~0.5 ms per statement). `ledger_balances`
 * is the view of the latest non-zero amount per key: `ledger_balance_base` (a compacted snapshot as of
 * `ledger_meta.balance_base_seq`) plus the images of later journal rows. `Ledger.compact()` moves the base.
 */
const DDL = `
CREATE TABLE IF NOT EXISTS ledger_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_journal (
  seq BIGINT PRIMARY KEY, op VARCHAR NOT NULL, args JSON NOT NULL, ts TIMESTAMP NOT NULL, balances JSON NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_verses (
  id VARCHAR PRIMARY KEY, parent VARCHAR, event VARCHAR, name VARCHAR, ordinal INTEGER NOT NULL,
  probability DECIMAL(38,18) NOT NULL, trit TINYINT NOT NULL, resolved BOOLEAN NOT NULL, outcome BOOLEAN,
  collapsed BOOLEAN NOT NULL, created_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_events (
  id VARCHAR PRIMARY KEY, parent VARCHAR NOT NULL, gf3_sum INTEGER NOT NULL, allow_unbalanced_trits BOOLEAN NOT NULL,
  resolved BOOLEAN NOT NULL, winner VARCHAR, oracle_source VARCHAR, wev JSON, created_seq BIGINT NOT NULL,
  resolved_seq BIGINT);
CREATE TABLE IF NOT EXISTS ledger_balance_base (
  seq BIGINT NOT NULL, verse VARCHAR NOT NULL, owner VARCHAR NOT NULL, asset VARCHAR NOT NULL, amount UHUGEINT NOT NULL);
CREATE VIEW IF NOT EXISTS ledger_balance_images AS
  SELECT seq, verse, owner, asset, amount FROM ledger_balance_base
  UNION ALL
  SELECT j.seq, b[1], b[2], b[3], b[4]::UHUGEINT
  FROM ledger_journal j, unnest(from_json(j.balances, '[["VARCHAR"]]')) AS t(b)
  WHERE j.seq > (SELECT CAST(value AS BIGINT) FROM ledger_meta WHERE key = 'balance_base_seq');
CREATE VIEW IF NOT EXISTS ledger_balances AS
  SELECT verse, owner, asset, amount FROM (
    SELECT verse, owner, asset, arg_max(amount, seq) AS amount FROM ledger_balance_images GROUP BY verse, owner, asset)
  WHERE amount > 0;
`;

/**
 * One DuckDB connection used strictly one statement string at a time. Group commit sends
 * `BEGIN; …; COMMIT;` as one string, so serialising calls keeps reads out of a batch's transaction.
 */
export class SerialConnection {
  private tail: Promise<unknown> = Promise.resolve();
  constructor(readonly conn: DuckDBConnection) {}

  /** Run `sql` after every earlier call has finished. */
  run(sql: string): Promise<void> {
    const next = this.tail.then(async () => {
      await this.conn.run(sql);
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  /** Run a query after every earlier call and return its rows as plain JS values. */
  rows(sql: string): Promise<Record<string, unknown>[]> {
    const next = this.tail.then(async () => (await this.conn.run(sql)).getRowObjectsJS() as Promise<Record<string, unknown>[]>);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** Roll back whatever transaction a failed batch left open; "no transaction active" is fine. */
export async function rollbackQuietly(db: SerialConnection): Promise<void> {
  await db.run('ROLLBACK').catch(() => undefined);
}

/**
 * Create the tables if absent and check the schema version.
 * @throws LedgerError `SCHEMA_VERSION` when the database holds another version of the ledger tables.
 */
export async function ensureSchema(db: SerialConnection): Promise<void> {
  const exists = await db.rows(
    `SELECT count(*) AS n FROM duckdb_tables() WHERE table_name = 'ledger_meta' AND schema_name = current_schema() AND database_name = current_database()`,
  );
  if (Number(exists[0]?.n ?? 0) > 0) {
    const v = await db.rows(`SELECT value FROM ledger_meta WHERE key = 'schema_version'`);
    const found = v[0]?.value;
    if (found !== undefined && found !== String(LEDGER_SCHEMA_VERSION)) {
      throw ledgerError('SCHEMA_VERSION', `ledger tables have schema version ${String(found)}, this code reads ${LEDGER_SCHEMA_VERSION}`, {
        found,
        expected: LEDGER_SCHEMA_VERSION,
      });
    }
  }
  try {
    await db.run(
      `BEGIN TRANSACTION; ${DDL}
       INSERT INTO ledger_meta VALUES ('schema_version', '${LEDGER_SCHEMA_VERSION}') ON CONFLICT DO NOTHING;
       INSERT INTO ledger_meta VALUES ('root', '${ROOT_VERSE}') ON CONFLICT DO NOTHING;
       INSERT INTO ledger_meta VALUES ('balance_base_seq', '0') ON CONFLICT DO NOTHING;
       INSERT INTO ledger_verses VALUES ${verseValues(rootRecord())} ON CONFLICT DO NOTHING;
       COMMIT;`,
    );
  } catch (err) {
    await rollbackQuietly(db);
    throw err;
  }
}
