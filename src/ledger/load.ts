/**
 * @module
 * Reading the ledger tables back: the whole state on open (and after a failed commit), the journal for
 * `journal()`/`check()`, and the stored balances for comparison.
 */

import { decodeEntry } from './codec.js';
import { compareRows, LedgerState, type EventRecord, type VerseRecord } from './state.js';
import type { SerialConnection } from './schema.js';
import { parseProbability } from './validate.js';
import type { BalanceRow, JournalEntry, Trit } from './types.js';

const num = (v: unknown): number => Number(v);
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** Non-zero balances as stored (the `ledger_balances` view), sorted like `LedgerState.balanceRows()`. */
export async function storedBalances(db: SerialConnection): Promise<BalanceRow[]> {
  const rows = await db.rows(`SELECT verse, owner, asset, amount FROM ledger_balances`);
  return rows.map((r) => ({ verse: String(r.verse), owner: String(r.owner), asset: String(r.asset), amount: BigInt(r.amount as bigint) })).sort(compareRows);
}

/** Verses in creation order (parents before children). */
export async function storedVerses(db: SerialConnection): Promise<VerseRecord[]> {
  const rows = await db.rows(
    `SELECT id, parent, event, name, ordinal, probability::VARCHAR AS p, trit, resolved, outcome, collapsed, created_seq
     FROM ledger_verses ORDER BY created_seq, ordinal`,
  );
  return rows.map((r) => ({
    id: String(r.id),
    parent: str(r.parent),
    event: str(r.event),
    name: str(r.name),
    ordinal: num(r.ordinal),
    probability: parseProbability(String(r.p), String(r.id)),
    trit: num(r.trit) as Trit,
    resolved: r.resolved === true,
    outcome: r.outcome === null ? null : r.outcome === true,
    collapsed: r.collapsed === true,
    events: [],
    createdSeq: num(r.created_seq),
  }));
}

/** Events in creation order, children filled from `verses` (which must be in creation order). */
export async function storedEvents(db: SerialConnection, verses: VerseRecord[]): Promise<EventRecord[]> {
  const rows = await db.rows(
    `SELECT id, parent, gf3_sum, allow_unbalanced_trits, resolved, winner, oracle_source, wev::VARCHAR AS wev, created_seq, resolved_seq
     FROM ledger_events ORDER BY created_seq`,
  );
  const children = new Map<string, string[]>();
  for (const v of verses) {
    if (v.event === null) continue;
    let list = children.get(v.event);
    if (!list) {
      list = [];
      children.set(v.event, list);
    }
    list.push(v.id);
  }
  return rows.map((r) => ({
    id: String(r.id),
    parent: String(r.parent),
    children: children.get(String(r.id)) ?? [],
    gf3Sum: num(r.gf3_sum),
    allowUnbalancedTrits: r.allow_unbalanced_trits === true,
    resolved: r.resolved === true,
    winner: str(r.winner),
    oracleSource: str(r.oracle_source),
    wev: r.wev === null ? null : Object.fromEntries(Object.entries(JSON.parse(String(r.wev)) as Record<string, string>).map(([k, v]) => [k, BigInt(v)])),
    createdSeq: num(r.created_seq),
    resolvedSeq: r.resolved_seq === null ? null : num(r.resolved_seq),
  }));
}

/** Sequence number of the last committed operation (0 for an empty journal). */
export async function lastSeq(db: SerialConnection): Promise<number> {
  const rows = await db.rows(`SELECT coalesce(max(seq), 0) AS s FROM ledger_journal`);
  return num(rows[0]?.s ?? 0);
}

/** Load the authoritative state from the tables. */
export async function loadState(db: SerialConnection): Promise<LedgerState> {
  const seq = await lastSeq(db);
  const verses = await storedVerses(db);
  const events = await storedEvents(db, verses);
  return LedgerState.fromRows(seq, verses, events, await storedBalances(db));
}

/** Journal entries with `from ≤ seq ≤ to`, in order. */
export async function readJournal(db: SerialConnection, to: number, from = 1): Promise<JournalEntry[]> {
  const rows = await db.rows(
    `SELECT seq, op, args::VARCHAR AS args, epoch_ms(ts) AS ms FROM ledger_journal WHERE seq BETWEEN ${Math.trunc(from)} AND ${Math.trunc(to)} ORDER BY seq`,
  );
  return rows.map((r) => decodeEntry(num(r.seq), String(r.op), String(r.args), num(r.ms)));
}
