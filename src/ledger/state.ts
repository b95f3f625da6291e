/**
 * @module
 * The authoritative in-memory ledger state: verses, events and balances. Pure data, no I/O, so it can be
 * property-tested in isolation and rebuilt from the journal (`replay`). Operations live in `apply.ts`.
 */

import { formatProbability } from './validate.js';
import { PROBABILITY_SCALE, ROOT_VERSE, type BalanceRow, type EventInfo, type Trit, type VerseInfo } from './types.js';

/** Internal verse record (mutable; callers outside the ledger only ever see copies). */
export interface VerseRecord {
  id: string;
  parent: string | null;
  event: string | null;
  name: string | null;
  /** Position among its event's children: keeps child order stable across reloads. */
  ordinal: number;
  probability: bigint;
  trit: Trit;
  resolved: boolean;
  outcome: boolean | null;
  collapsed: boolean;
  events: string[];
  createdSeq: number;
}

/** Internal event record: what `Ledger.events()` reports, plus the journal positions. */
export interface EventRecord extends EventInfo {
  createdSeq: number;
  resolvedSeq: number | null;
}

/** After-images of everything one operation changed: exactly what the group-commit writer persists. */
export interface Effect {
  seq: number;
  /** New amount of every touched entry (0 = the entry is gone). */
  balances: BalanceRow[];
  verses: { row: VerseRecord; created: boolean }[];
  events: { row: EventRecord; created: boolean }[];
}

// Owner and asset never contain control characters (see validate.ts), so NUL is a safe separator.
const SEP = '\u0000';

/** Key of an (owner, asset) pair inside one verse's balance map. */
export function pairKey(owner: string, asset: string): string {
  return owner + SEP + asset;
}

/** Split a {@link pairKey} back into owner and asset. */
export function splitPair(key: string): [owner: string, asset: string] {
  const i = key.indexOf(SEP);
  return [key.slice(0, i), key.slice(i + 1)];
}

/** The root verse as a fresh ledger has it. */
export function rootRecord(): VerseRecord {
  return {
    id: ROOT_VERSE,
    parent: null,
    event: null,
    name: null,
    ordinal: 0,
    probability: PROBABILITY_SCALE,
    trit: 0,
    resolved: false,
    outcome: null,
    collapsed: false,
    events: [],
    createdSeq: 0,
  };
}

/** The ledger's state. Construct empty (root only) or fill from stored rows with {@link LedgerState.fromRows}. */
export class LedgerState {
  /** Sequence number of the last applied operation (0 = none). */
  seq = 0;
  readonly verseMap = new Map<string, VerseRecord>();
  readonly eventMap = new Map<string, EventRecord>();
  /** verse → (owner, asset) → amount > 0. Nested by verse so a collapse drops a verse's entries at once. */
  readonly balanceMap = new Map<string, Map<string, bigint>>();

  constructor() {
    this.verseMap.set(ROOT_VERSE, rootRecord());
  }

  /** Rebuild a state from stored rows (verses in creation order, events, non-zero balances). */
  static fromRows(seq: number, verses: VerseRecord[], events: EventRecord[], balances: BalanceRow[]): LedgerState {
    const s = new LedgerState();
    s.seq = seq;
    s.verseMap.clear();
    for (const v of verses) s.verseMap.set(v.id, { ...v, events: [] });
    for (const e of events) {
      s.eventMap.set(e.id, e);
      s.verseMap.get(e.parent)?.events.push(e.id);
    }
    for (const b of balances) s.setBalance(b.verse, b.owner, b.asset, b.amount);
    return s;
  }

  /** Amount held by `owner` in `verse` (0 when absent, including collapsed or unknown verses). */
  balance(verse: string, owner: string, asset: string): bigint {
    return this.balanceMap.get(verse)?.get(pairKey(owner, asset)) ?? 0n;
  }

  /** Set an entry, dropping it at zero so the map only ever holds positive amounts. */
  setBalance(verse: string, owner: string, asset: string, amount: bigint): void {
    let m = this.balanceMap.get(verse);
    if (amount === 0n) {
      m?.delete(pairKey(owner, asset));
      if (m?.size === 0) this.balanceMap.delete(verse);
      return;
    }
    if (!m) {
      m = new Map();
      this.balanceMap.set(verse, m);
    }
    m.set(pairKey(owner, asset), amount);
  }

  /** Every non-zero entry, sorted by verse, owner, asset. */
  balanceRows(): BalanceRow[] {
    const rows: BalanceRow[] = [];
    for (const [verse, m] of this.balanceMap) {
      for (const [key, amount] of m) {
        const [owner, asset] = splitPair(key);
        rows.push({ verse, owner, asset, amount });
      }
    }
    return rows.sort(compareRows);
  }

  /** Public view of every verse, in creation order. */
  verseInfos(): VerseInfo[] {
    return [...this.verseMap.values()].map((v) => ({
      id: v.id,
      parent: v.parent,
      event: v.event,
      name: v.name,
      probability: formatProbability(v.probability),
      trit: v.trit,
      resolved: v.resolved,
      outcome: v.outcome,
      collapsed: v.collapsed,
      events: [...v.events],
      children: v.events.flatMap((e) => this.eventMap.get(e)?.children ?? []),
    }));
  }

  /** Public view of every event, in creation order. */
  eventInfos(): EventInfo[] {
    return [...this.eventMap.values()].map((e) => ({
      id: e.id,
      parent: e.parent,
      children: [...e.children],
      gf3Sum: e.gf3Sum,
      allowUnbalancedTrits: e.allowUnbalancedTrits,
      resolved: e.resolved,
      winner: e.winner,
      oracleSource: e.oracleSource,
      wev: e.wev === null ? null : { ...e.wev },
    }));
  }
}

/** Total order on balance rows (verse, owner, asset) used everywhere rows are compared. */
export function compareRows(a: BalanceRow, b: BalanceRow): number {
  return cmp(a.verse, b.verse) || cmp(a.owner, b.owner) || cmp(a.asset, b.asset);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
