/**
 * @module
 * Journal args ⇄ JSON. Amounts travel as decimal strings (JSON has no bigint and doubles would round them).
 * Decoding re-validates through `normalizeOp`, so a damaged journal is refused rather than misread.
 */

import { isOpName, normalizeOp } from './normalize.js';
import { ledgerError } from './validate.js';
import type { JournalEntry, LedgerOp } from './types.js';

/** JSON text of an operation's args, bigints as decimal strings. */
export function encodeArgs(op: LedgerOp): string {
  return JSON.stringify(op.args, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Rebuild a journal entry from its stored columns. @throws LedgerError `CORRUPT_JOURNAL`. */
export function decodeEntry(seq: number, op: string, argsJson: string, tsMs: number): JournalEntry {
  try {
    if (!isOpName(op)) throw new Error(`unknown op "${op}"`);
    const raw = JSON.parse(argsJson) as Record<string, unknown>;
    if (typeof raw.amount === 'string' && /^\d+$/.test(raw.amount)) raw.amount = BigInt(raw.amount);
    return { ...normalizeOp(op, raw), seq, ts: new Date(tsMs).toISOString() } as JournalEntry;
  } catch (err) {
    throw ledgerError('CORRUPT_JOURNAL', `journal entry ${seq} cannot be decoded: ${(err as Error).message}`, { seq });
  }
}
