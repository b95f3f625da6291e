/**
 * @module
 * The Multiverse Finance rules (docs/ledger.md) applied to a {@link LedgerState}. Each operation first validates
 * everything, then mutates: a rejected operation throws before touching the state, so it changes nothing.
 */

import { collapseLosers } from './collapse.js';
import { ledgerError, parseProbability } from './validate.js';
import type { Effect, EventRecord, LedgerState, VerseRecord } from './state.js';
import { MAX_AMOUNT, PROBABILITY_SCALE, ROOT_VERSE, type JournalEntry, type LedgerOp, type ResolveResult } from './types.js';

/** What one accepted operation produced. */
export interface Applied {
  entry: JournalEntry;
  effect: Effect;
  /** `partition`: child verse ids; `resolve`: {@link ResolveResult}; otherwise undefined. */
  result: string[] | ResolveResult | undefined;
}

/**
 * Validate `op` against `state` and apply it as operation number `state.seq + 1`.
 * @throws LedgerError with `details.reason` when the op is not allowed; the state is then unchanged.
 */
export function applyOp(state: LedgerState, op: LedgerOp, ts: string): Applied {
  const seq = state.seq + 1;
  const effect: Effect = { seq, balances: [], verses: [], events: [] };
  const credit = (verse: string, owner: string, asset: string, delta: bigint): void => {
    const amount = state.balance(verse, owner, asset) + delta;
    state.setBalance(verse, owner, asset, amount);
    effect.balances.push({ verse, owner, asset, amount });
  };
  let result: Applied['result'];
  switch (op.op) {
    case 'deposit': {
      const { owner, asset, amount } = op.args;
      needRoom(state, ROOT_VERSE, owner, asset, amount);
      credit(ROOT_VERSE, owner, asset, amount);
      break;
    }
    case 'withdraw': {
      const { owner, asset, amount } = op.args;
      needFunds(state, ROOT_VERSE, owner, asset, amount);
      credit(ROOT_VERSE, owner, asset, -amount);
      break;
    }
    case 'transfer': {
      const { verse, asset, from, to, amount } = op.args;
      liveVerse(state, verse);
      needFunds(state, verse, from, asset, amount);
      if (from !== to) needRoom(state, verse, to, asset, amount);
      credit(verse, from, asset, -amount);
      credit(verse, to, asset, amount);
      break;
    }
    case 'partition':
      result = partition(state, op.args, seq, effect);
      break;
    case 'pushDown': {
      const { event, owner, asset, amount } = op.args;
      const e = liveEvent(state, event);
      if (e.resolved) throw ledgerError('EVENT_RESOLVED', `event "${event}" is already resolved: push-down refused`, { event });
      needFunds(state, e.parent, owner, asset, amount);
      for (const c of e.children) needRoom(state, c, owner, asset, amount);
      credit(e.parent, owner, asset, -amount);
      for (const c of e.children) credit(c, owner, asset, amount);
      break;
    }
    case 'pullUp': {
      const { event, owner, asset, amount } = op.args;
      const e = liveEvent(state, event);
      // After resolution the winner alone forms the partition, so pulling up from it is always allowed.
      const survivors = e.resolved && e.winner !== null ? [e.winner] : e.children;
      for (const c of survivors) needFunds(state, c, owner, asset, amount);
      needRoom(state, e.parent, owner, asset, amount);
      for (const c of survivors) credit(c, owner, asset, -amount);
      credit(e.parent, owner, asset, amount);
      break;
    }
    case 'resolve': {
      const { event, winner, oracleSource } = op.args;
      const e = liveEvent(state, event);
      if (e.resolved) throw ledgerError('EVENT_RESOLVED', `event "${event}" is already resolved (winner ${e.winner})`, { event });
      if (!state.verseMap.has(winner)) throw ledgerError('UNKNOWN_VERSE', `no verse "${winner}"`, { verse: winner });
      if (!e.children.includes(winner)) {
        throw ledgerError('NOT_A_PARTITION', `verse "${winner}" is not a child of event "${event}"`, { event, verse: winner });
      }
      result = collapseLosers(state, e, winner, oracleSource, effect);
      break;
    }
  }
  state.seq = seq;
  return { entry: { ...op, seq, ts } as JournalEntry, effect, result };
}

function partition(state: LedgerState, args: Extract<LedgerOp, { op: 'partition' }>['args'], seq: number, effect: Effect): string[] {
  const { parent, event, children, allowUnbalancedTrits } = args;
  const p = liveVerse(state, parent);
  if (state.eventMap.has(event)) throw ledgerError('DUPLICATE_EVENT', `event "${event}" already exists`, { event });
  const names = new Set(children.map((c) => c.name));
  if (names.size !== children.length) {
    throw ledgerError('NOT_A_PARTITION', `children of event "${event}" must have distinct names`, { event });
  }
  const probabilities = children.map((c) => parseProbability(c.probability, c.name));
  const total = probabilities.reduce((a, b) => a + b, 0n);
  if (total !== PROBABILITY_SCALE) {
    throw ledgerError('BAD_PROBABILITIES', `probabilities of event "${event}" sum to ${children.map((c) => c.probability).join(' + ')}, not 1`, {
      event,
    });
  }
  const gf3Sum = children.reduce((a, c) => a + c.trit, 0);
  if (!allowUnbalancedTrits && ((gf3Sum % 3) + 3) % 3 !== 0) {
    throw ledgerError('GF3_UNBALANCED', `trits of event "${event}" sum to ${gf3Sum}, not 0 mod 3 (pass allowUnbalancedTrits to accept)`, {
      event,
      gf3Sum,
    });
  }
  const ids = children.map((c) => `${event}/${c.name}`);
  for (const id of ids) {
    // Unreachable while names have no "/" and events are unique, kept as a guard for stored journals.
    if (state.verseMap.has(id)) throw ledgerError('NOT_A_PARTITION', `verse "${id}" already exists`, { verse: id });
  }
  const e: EventRecord = {
    id: event,
    parent,
    children: ids,
    gf3Sum,
    allowUnbalancedTrits,
    resolved: false,
    winner: null,
    oracleSource: null,
    wev: null,
    createdSeq: seq,
    resolvedSeq: null,
  };
  state.eventMap.set(event, e);
  p.events.push(event);
  effect.events.push({ row: { ...e, children: [...ids] }, created: true });
  children.forEach((c, i) => {
    const v: VerseRecord = {
      id: ids[i] as string,
      parent,
      event,
      name: c.name,
      ordinal: i,
      probability: probabilities[i] as bigint,
      trit: c.trit,
      resolved: false,
      outcome: null,
      collapsed: false,
      events: [],
      createdSeq: seq,
    };
    state.verseMap.set(v.id, v);
    effect.verses.push({ row: { ...v }, created: true });
  });
  return ids;
}

/** The verse, which must exist and not be collapsed. */
export function liveVerse(state: LedgerState, id: string): VerseRecord {
  const v = state.verseMap.get(id);
  if (!v) throw ledgerError('UNKNOWN_VERSE', `no verse "${id}"`, { verse: id });
  if (v.collapsed) throw ledgerError('COLLAPSED_VERSE', `verse "${id}" has collapsed`, { verse: id });
  return v;
}

/** The event, which must exist and whose parent must be live (else its children are collapsed too). */
function liveEvent(state: LedgerState, id: string): EventRecord {
  const e = state.eventMap.get(id);
  if (!e) throw ledgerError('UNKNOWN_EVENT', `no event "${id}"`, { event: id });
  if (state.verseMap.get(e.parent)?.collapsed) {
    throw ledgerError('COLLAPSED_VERSE', `event "${id}" lies under collapsed verse "${e.parent}"`, { event: id, verse: e.parent });
  }
  return e;
}

function needFunds(state: LedgerState, verse: string, owner: string, asset: string, amount: bigint): void {
  const have = state.balance(verse, owner, asset);
  if (have < amount) {
    throw ledgerError('INSUFFICIENT_BALANCE', `${owner} holds ${have} ${asset} in verse "${verse}", needs ${amount}`, {
      verse,
      owner,
      asset,
      balance: have.toString(),
      required: amount.toString(),
    });
  }
}

function needRoom(state: LedgerState, verse: string, owner: string, asset: string, amount: bigint): void {
  if (state.balance(verse, owner, asset) + amount > MAX_AMOUNT) {
    throw ledgerError('INVALID_AMOUNT', `${owner}'s ${asset} in verse "${verse}" would exceed 2^128-1`, { verse, owner, asset });
  }
}
