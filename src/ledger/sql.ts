/**
 * @module
 * SQL text for the ledger's writes. A whole group-commit batch is sent as ONE multi-statement string
 * (`BEGIN; …; COMMIT;`) so it costs a single round trip into DuckDB; values are therefore rendered as
 * literals, through the quoting helpers below only. Identifiers never hold control characters
 * (validate.ts), amounts are bigints, probabilities fixed-point.
 */

import { encodeArgs } from './codec.js';
import { formatProbability } from './validate.js';
import type { Effect, EventRecord, VerseRecord } from './state.js';
import type { BalanceRow, JournalEntry } from './types.js';

/** A SQL string literal: single quotes doubled (DuckDB strings have no backslash escapes). */
export function lit(s: string | null): string {
  return s === null ? 'NULL' : `'${s.replaceAll("'", "''")}'`;
}

function int(n: number): string {
  if (!Number.isSafeInteger(n)) throw new TypeError(`not a safe integer: ${n}`);
  return String(n);
}

function bool(b: boolean | null): string {
  return b === null ? 'NULL' : b ? 'TRUE' : 'FALSE';
}

/** ISO-8601 UTC text to a TIMESTAMP literal (stored as UTC wall time). */
function tsLit(iso: string): string {
  return `TIMESTAMP '${iso.slice(0, 23).replace('T', ' ')}'`;
}

function wevLit(wev: Record<string, bigint> | null): string {
  if (wev === null) return 'NULL';
  return lit(JSON.stringify(Object.fromEntries(Object.entries(wev).map(([k, v]) => [k, v.toString()]))));
}

/** A verse row in ledger_verses column order. */
export function verseValues(v: VerseRecord): string {
  return `(${lit(v.id)}, ${lit(v.parent)}, ${lit(v.event)}, ${lit(v.name)}, ${int(v.ordinal)}, '${formatProbability(v.probability)}'::DECIMAL(38,18), ${int(v.trit)}, ${bool(v.resolved)}, ${bool(v.outcome)}, ${bool(v.collapsed)}, ${int(v.createdSeq)})`;
}

function eventValues(e: EventRecord): string {
  return `(${lit(e.id)}, ${lit(e.parent)}, ${int(e.gf3Sum)}, ${bool(e.allowUnbalancedTrits)}, ${bool(e.resolved)}, ${lit(e.winner)}, ${lit(e.oracleSource)}, ${wevLit(e.wev)}, ${int(e.createdSeq)}, ${e.resolvedSeq === null ? 'NULL' : int(e.resolvedSeq)})`;
}

/** One journal entry plus the after-images it produced. */
export interface BatchItem {
  entry: JournalEntry;
  effect: Effect;
}

// One op's balance after-images as JSON, last image per key (a transfer to oneself touches a key twice,
// and the view orders images by seq alone).
function imagesJson(rows: readonly BalanceRow[]): string {
  const last = new Map<string, BalanceRow>();
  for (const b of rows) last.set(`${b.verse}\u0000${b.owner}\u0000${b.asset}`, b);
  return JSON.stringify([...last.values()].map((b) => [b.verse, b.owner, b.asset, b.amount.toString()]));
}

/**
 * The whole transaction for a batch: one INSERT of journal rows (with their balance after-images), plus
 * verse/event rows for partitions and resolutions. Verse and event images are coalesced per id, keeping
 * the last, so each is written once and the tables equal the in-memory state after the batch's last op.
 */
export function batchSql(items: readonly BatchItem[]): string {
  const journal: string[] = [];
  const verses = new Map<string, { row: VerseRecord; created: boolean }>();
  const events = new Map<string, { row: EventRecord; created: boolean }>();
  for (const { entry, effect } of items) {
    journal.push(`(${int(entry.seq)}, ${lit(entry.op)}, ${lit(encodeArgs(entry))}, ${tsLit(entry.ts)}, ${lit(imagesJson(effect.balances))})`);
    for (const v of effect.verses) verses.set(v.row.id, { row: v.row, created: v.created || (verses.get(v.row.id)?.created ?? false) });
    for (const e of effect.events) events.set(e.row.id, { row: e.row, created: e.created || (events.get(e.row.id)?.created ?? false) });
  }
  const out = ['BEGIN TRANSACTION;', `INSERT INTO ledger_journal VALUES ${journal.join(', ')};`];
  const newVerses = [...verses.values()].filter((v) => v.created).map((v) => verseValues(v.row));
  if (newVerses.length > 0) out.push(`INSERT INTO ledger_verses VALUES ${newVerses.join(', ')};`);
  // A resolution can collapse a large subtree: one UPDATE per distinct (resolved, outcome, collapsed) triple.
  const updates = new Map<string, string[]>();
  for (const { row: v, created } of verses.values()) {
    if (created) continue;
    const set = `resolved = ${bool(v.resolved)}, outcome = ${bool(v.outcome)}, collapsed = ${bool(v.collapsed)}`;
    let ids = updates.get(set);
    if (!ids) {
      ids = [];
      updates.set(set, ids);
    }
    ids.push(lit(v.id));
  }
  for (const [set, ids] of updates) out.push(`UPDATE ledger_verses SET ${set} WHERE id IN (${ids.join(', ')});`);
  const newEvents = [...events.values()].filter((e) => e.created).map((e) => eventValues(e.row));
  if (newEvents.length > 0) out.push(`INSERT INTO ledger_events VALUES ${newEvents.join(', ')};`);
  for (const { row: e, created } of events.values()) {
    if (!created) {
      out.push(
        `UPDATE ledger_events SET resolved = ${bool(e.resolved)}, winner = ${lit(e.winner)}, oracle_source = ${lit(e.oracleSource)}, wev = ${wevLit(e.wev)}, resolved_seq = ${e.resolvedSeq === null ? 'NULL' : int(e.resolvedSeq)} WHERE id = ${lit(e.id)};`,
      );
    }
  }
  out.push('COMMIT;');
  return out.join('\n');
}
