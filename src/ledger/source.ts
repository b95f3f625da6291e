/**
 * @module
 * Where the ledger's tables live, and who owns the DuckDB handles it uses.
 */

import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

/** Where the ledger keeps its tables: a database file path, a shared instance, or a dedicated connection. */
export type LedgerSource = string | DuckDBInstance | DuckDBConnection;

/** The connection to use, and the handles the ledger opened itself (and so must close). */
export interface Opened {
  conn: DuckDBConnection;
  owned: { instance?: DuckDBInstance; connection?: DuckDBConnection };
}

/**
 * A path opens a DuckDB file owned by the ledger; an instance (the runtime shares one database file this
 * way) gets a connection of the ledger's own; a connection is used as is and never closed by the ledger.
 */
export async function openSource(source: LedgerSource): Promise<Opened> {
  if (typeof source === 'string') {
    const instance = await DuckDBInstance.create(source);
    const connection = await instance.connect();
    return { conn: connection, owned: { instance, connection } };
  }
  if (source instanceof DuckDBInstance) {
    const connection = await source.connect();
    return { conn: connection, owned: { connection } };
  }
  return { conn: source, owned: {} };
}

/** Close what the ledger opened itself. */
export function closeOwned(owned: Opened['owned']): void {
  owned.connection?.closeSync();
  owned.instance?.closeSync();
}
