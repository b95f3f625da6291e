/**
 * @module
 * `Ledger.check()` and `Ledger.compact()`: the database-level audits and maintenance, run while the group
 * commit pipeline is drained so the tables and the in-memory state describe the same sequence number.
 */

import { auditState, replay, type Replayed } from './audit.js';
import { loadState, readJournal } from './load.js';
import { rollbackQuietly, type SerialConnection } from './schema.js';
import type { LedgerState } from './state.js';
import type { CheckReport } from './types.js';

const json = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));

/** Describe up to three differences between two lists (compared as JSON lines). */
function diff(label: string, expected: unknown[], actual: unknown[], problems: string[]): void {
  const a = expected.map(json);
  const b = actual.map(json);
  if (a.join('\n') === b.join('\n')) return;
  const setA = new Set(a);
  const setB = new Set(b);
  const onlyA = a.filter((x) => !setB.has(x)).slice(0, 3);
  const onlyB = b.filter((x) => !setA.has(x)).slice(0, 3);
  problems.push(`${label} differ from the journal replay: replay has ${onlyA.join(' ') || '(same rows)'}; stored has ${onlyB.join(' ') || '(same rows)'}`);
}

/**
 * Replay the stored journal from empty and compare it with the stored tables and with `memory`
 * (which must be at the journal's last sequence number), then audit the invariants on the replay.
 */
export async function checkLedger(db: SerialConnection, memory: LedgerState): Promise<CheckReport> {
  const problems: string[] = [];
  const memorySeq = memory.seq;
  const memBalances = memory.balanceRows();
  const memVerses = memory.verseInfos();
  const memEvents = memory.eventInfos();
  const journal = await readJournal(db, Number.MAX_SAFE_INTEGER);
  let r: Replayed;
  try {
    r = replay(journal);
  } catch (err) {
    return { ok: false, problems: [(err as Error).message], ops: journal.length, balances: memBalances.length };
  }
  problems.push(...auditState(r));
  const stored = await loadState(db);
  const replayed = r.state;
  if (replayed.seq !== memorySeq) problems.push(`journal ends at seq ${replayed.seq}, memory is at ${memorySeq}`);
  diff('stored balances', replayed.balanceRows(), stored.balanceRows(), problems);
  diff('stored verses', replayed.verseInfos(), stored.verseInfos(), problems);
  diff('stored events', replayed.eventInfos(), stored.eventInfos(), problems);
  diff('in-memory balances', replayed.balanceRows(), memBalances, problems);
  diff('in-memory verses', replayed.verseInfos(), memVerses, problems);
  diff('in-memory events', replayed.eventInfos(), memEvents, problems);
  return { ok: problems.length === 0, problems, ops: journal.length, balances: memBalances.length };
}

/**
 * Move the balance snapshot forward: `ledger_balance_base` becomes the current balances as of the last
 * journal row, so reading `ledger_balances` (e.g. on open) no longer scans older journal rows.
 * The journal itself is never modified.
 */
export async function compactBalances(db: SerialConnection): Promise<void> {
  const last = '(SELECT coalesce(max(seq), 0) FROM ledger_journal)';
  try {
    await db.run(`BEGIN TRANSACTION;
      CREATE TEMP TABLE ledger_compact_tmp AS SELECT verse, owner, asset, amount FROM ledger_balances;
      DELETE FROM ledger_balance_base;
      INSERT INTO ledger_balance_base SELECT ${last}, verse, owner, asset, amount FROM ledger_compact_tmp;
      UPDATE ledger_meta SET value = CAST(${last} AS VARCHAR) WHERE key = 'balance_base_seq';
      DROP TABLE ledger_compact_tmp;
      COMMIT;`);
  } catch (err) {
    await rollbackQuietly(db);
    await db.run('DROP TABLE IF EXISTS ledger_compact_tmp').catch(() => undefined);
    throw err;
  }
}

/** Journal rows newer than the balance snapshot: what reading `ledger_balances` has to unpack. */
export async function journalTail(db: SerialConnection): Promise<number> {
  const rows = await db.rows(
    `SELECT count(*) AS n FROM ledger_journal WHERE seq > (SELECT CAST(value AS BIGINT) FROM ledger_meta WHERE key = 'balance_base_seq')`,
  );
  return Number(rows[0]?.n ?? 0);
}
