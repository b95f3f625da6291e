/**
 * @module
 * Replay and invariant checking, both pure. `replay` recomputes a state from an empty ledger; `auditState`
 * verifies the Multiverse Finance conservation law (docs/ledger.md) on any state.
 */

import { applyOp } from './apply.js';
import { LedgerState, pairKey, splitPair } from './state.js';
import { ledgerError } from './validate.js';
import { PROBABILITY_SCALE, ROOT_VERSE, type JournalEntry } from './types.js';

/** A state recomputed from a journal, with the flows the invariant needs. */
export interface Replayed {
  state: LedgerState;
  /** Net deposits (deposits − withdrawals) per {@link pairKey}(owner, asset). */
  deposits: Map<string, bigint>;
  /** Net amount received through transfers, per verse then per pairKey(owner, asset). */
  transfers: Map<string, Map<string, bigint>>;
}

/**
 * Recompute the ledger from an empty state by applying every journal entry in order.
 * @throws LedgerError `CORRUPT_JOURNAL` on a gap in sequence numbers or an entry the rules reject.
 * @example
 * const { state } = replay(await ledger.journal());
 * state.balanceRows() // equals await ledger.balances()
 */
export function replay(journal: Iterable<JournalEntry>): Replayed {
  const state = new LedgerState();
  const deposits = new Map<string, bigint>();
  const transfers = new Map<string, Map<string, bigint>>();
  const add = (m: Map<string, bigint>, k: string, d: bigint): void => {
    m.set(k, (m.get(k) ?? 0n) + d);
  };
  for (const entry of journal) {
    if (entry.seq !== state.seq + 1) {
      throw ledgerError('CORRUPT_JOURNAL', `journal jumps from seq ${state.seq} to ${entry.seq}`, { seq: entry.seq });
    }
    const { seq, ts, ...op } = entry;
    try {
      applyOp(state, op as typeof entry, ts);
    } catch (err) {
      throw ledgerError('CORRUPT_JOURNAL', `journal entry ${seq} (${op.op}) is rejected on replay: ${(err as Error).message}`, { seq });
    }
    if (entry.op === 'deposit') add(deposits, pairKey(entry.args.owner, entry.args.asset), entry.args.amount);
    if (entry.op === 'withdraw') add(deposits, pairKey(entry.args.owner, entry.args.asset), -entry.args.amount);
    if (entry.op === 'transfer') {
      const { verse, from, to, asset, amount } = entry.args;
      let m = transfers.get(verse);
      if (!m) {
        m = new Map();
        transfers.set(verse, m);
      }
      add(m, pairKey(from, asset), -amount);
      add(m, pairKey(to, asset), amount);
    }
  }
  return { state, deposits, transfers };
}

/**
 * Every violation of the ledger's invariants in `r.state` (empty when sound):
 * no entry ≤ 0 or in a collapsed verse; consistent events; and for every asset (and every owner, counting the
 * transfers they made or received inside a verse) and every still-possible outcome, the sum of balances over
 * the live verses containing that outcome equals net deposits.
 */
export function auditState(r: Replayed): string[] {
  const { state } = r;
  const problems: string[] = [];
  for (const [verse, m] of state.balanceMap) {
    if (state.verseMap.get(verse)?.collapsed !== false) problems.push(`balances held in collapsed or unknown verse ${verse}`);
    for (const [k, a] of m) if (a <= 0n) problems.push(`non-positive entry ${verse}/${k.replace('\u0000', '/')}: ${a}`);
  }
  for (const e of state.eventMap.values()) {
    const total = e.children.reduce((s, c) => s + (state.verseMap.get(c)?.probability ?? 0n), 0n);
    if (total !== PROBABILITY_SCALE) problems.push(`event ${e.id}: probabilities sum to ${total}/10^18`);
    const parentDead = state.verseMap.get(e.parent)?.collapsed ?? true;
    for (const c of e.children) {
      const dead = state.verseMap.get(c)?.collapsed ?? true;
      if (dead !== (parentDead || (e.resolved && c !== e.winner))) problems.push(`event ${e.id}: child ${c} collapsed=${dead} is wrong`);
    }
  }
  const perAsset = new Map<string, bigint>();
  for (const [k, d] of r.deposits) {
    const asset = splitPair(k)[1];
    perAsset.set(asset, (perAsset.get(asset) ?? 0n) + d);
  }
  conservation(
    state,
    perAsset,
    (_v, key) => splitPair(key)[1],
    () => undefined,
    'asset',
    problems,
  );
  conservation(
    state,
    r.deposits,
    (_v, key) => key,
    (v) => r.transfers.get(v),
    'owner/asset',
    problems,
  );
  return problems;
}

/**
 * Check Σ over every outcome's live verses of (balance − net transfers in) = expected, per key.
 * Bottom-up: g(v) = own(v) + Σ over v's events of g(child), where all live children of one event must
 * agree; this equals the outcome-by-outcome sum without enumerating the (product-sized) outcome space.
 */
function conservation(
  state: LedgerState,
  expected: Map<string, bigint>,
  keyOf: (verse: string, pair: string) => string,
  transfersIn: (verse: string) => Map<string, bigint> | undefined,
  label: string,
  problems: string[],
): void {
  const g = new Map<string, Map<string, bigint>>();
  const verses = [...state.verseMap.values()].reverse(); // creation order reversed: children before parents
  for (const v of verses) {
    if (v.collapsed) continue;
    const sum = new Map<string, bigint>();
    const add = (k: string, d: bigint): void => {
      sum.set(k, (sum.get(k) ?? 0n) + d);
    };
    for (const [pair, amount] of state.balanceMap.get(v.id) ?? []) add(keyOf(v.id, pair), amount);
    for (const [pair, net] of transfersIn(v.id) ?? []) add(keyOf(v.id, pair), -net);
    for (const ev of v.events) {
      const live = (state.eventMap.get(ev)?.children ?? []).filter((c) => g.has(c));
      const first = live[0];
      if (first === undefined) continue;
      const keys = new Set(live.flatMap((c) => [...(g.get(c) as Map<string, bigint>).keys()]));
      for (const k of keys) {
        const values = live.map((c) => g.get(c)?.get(k) ?? 0n);
        if (values.some((x) => x !== values[0])) {
          problems.push(`event ${ev}, ${label} ${k.replace('\u0000', '/')}: outcomes disagree (${live.map((c, i) => `${c}=${values[i]}`).join(', ')})`);
        }
        add(k, values[0] as bigint);
      }
    }
    g.set(v.id, sum);
  }
  const top = g.get(ROOT_VERSE) ?? new Map<string, bigint>();
  for (const k of new Set([...top.keys(), ...expected.keys()])) {
    const got = top.get(k) ?? 0n;
    const want = expected.get(k) ?? 0n;
    if (got !== want) problems.push(`${label} ${k.replace('\u0000', '/')}: outcomes hold ${got}, net deposits are ${want}`);
  }
}
