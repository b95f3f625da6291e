/**
 * fast-check generators for random ledger operation sequences over nested partitions. A command holds
 * indices and amount *strategies*; `toCall` turns it into concrete method arguments against the current
 * state, so sequences stay meaningful (and shrink well) whatever happened before.
 */

import fc from 'fast-check';
import { applyOp, type JournalEntry, type LedgerState, type Trit } from '../../src/ledger/index.js';
import { normalizeOp } from '../../src/ledger/normalize.js';
import { reasonOf, rootOnly } from '../../src/ledger/validate.js';
import { bump, type Flows } from './oracle.js';

export const OWNERS = ['alice', 'bob', 'carol'] as const;
export const ASSETS = ['usd', 'eth'] as const;

/** An amount, or a strategy relative to the balance the op draws from ('over' must be refused). */
export type Amount = bigint | 'half' | 'all' | 'over';

export type Cmd =
  | { k: 'deposit'; o: number; a: number; amt: bigint }
  | { k: 'withdraw'; o: number; a: number; amt: Amount }
  | { k: 'transfer'; v: number; a: number; from: number; to: number; amt: Amount }
  | { k: 'partition'; v: number; n: number; cuts: number[]; trits: Trit[]; allow: boolean; skew: boolean; reuse: boolean }
  | { k: 'pushDown'; e: number; o: number; a: number; amt: Amount }
  | { k: 'pullUp'; e: number; o: number; a: number; amt: Amount }
  | { k: 'resolve'; e: number; w: number };

/** A concrete Ledger method call. */
export interface Call {
  method: 'deposit' | 'withdraw' | 'transfer' | 'partition' | 'pushDown' | 'pullUp' | 'resolve';
  args: unknown[];
}

const idx = fc.nat(50);
const amount: fc.Arbitrary<Amount> = fc.oneof(
  { weight: 3, arbitrary: fc.bigInt(1n, 60n) },
  { weight: 3, arbitrary: fc.constantFrom<Amount>('half', 'all') },
  { weight: 1, arbitrary: fc.constant<Amount>('over') },
);
const trit = fc.constantFrom<Trit>(-1, 0, 1);

/** One random command; deposits and push-downs are weighted up so balances exist to move around. */
export const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('deposit' as const), o: idx, a: idx, amt: fc.bigInt(1n, 1000n) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('withdraw' as const), o: idx, a: idx, amt: amount }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('transfer' as const), v: idx, a: idx, from: idx, to: idx, amt: amount }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('partition' as const),
      v: idx,
      n: fc.integer({ min: 1, max: 3 }),
      cuts: fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 2 }),
      trits: fc.array(trit, { minLength: 3, maxLength: 3 }),
      allow: fc.boolean(),
      skew: fc.integer({ min: 0, max: 9 }).map((x) => x < 2),
      reuse: fc.integer({ min: 0, max: 9 }).map((x) => x < 1),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('pushDown' as const), e: idx, o: idx, a: idx, amt: amount }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('pullUp' as const), e: idx, o: idx, a: idx, amt: amount }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('resolve' as const), e: idx, w: idx }) },
);

const pick = <T>(list: readonly T[], i: number): T => list[i % list.length] as T;

// Prefer an owner who holds something where the op draws from: otherwise most ops die of
// INSUFFICIENT_BALANCE and the interesting paths are rarely reached.
function owner(i: number, holds: (o: string) => bigint): string {
  const rich = OWNERS.filter((o) => holds(o) > 0n);
  return rich.length > 0 && i % 7 !== 6 ? pick(rich, i) : pick(OWNERS, i);
}

function size(base: bigint, amt: Amount): bigint {
  if (typeof amt === 'bigint') return amt;
  if (amt === 'over') return base + 1n;
  const x = amt === 'half' ? base / 2n : base;
  return x > 0n ? x : 1n;
}

/** Resolve a command into a concrete call against `state` (verses and events are picked by index). */
export function toCall(state: LedgerState, c: Cmd): Call {
  const verses = [...state.verseMap.keys()];
  const events = [...state.eventMap.keys()];
  const eventOf = (i: number): string => (events.length === 0 || i % 13 === 12 ? 'no-such-event' : pick(events, i));
  switch (c.k) {
    case 'deposit':
      return { method: 'deposit', args: [pick(OWNERS, c.o), pick(ASSETS, c.a), c.amt] };
    case 'withdraw': {
      const a = pick(ASSETS, c.a);
      const o = owner(c.o, (x) => state.balance('root', x, a));
      return { method: 'withdraw', args: [o, a, size(state.balance('root', o, a), c.amt)] };
    }
    case 'transfer': {
      const [v, a, to] = [pick(verses, c.v), pick(ASSETS, c.a), pick(OWNERS, c.to)];
      const from = owner(c.from, (x) => state.balance(v, x, a));
      return { method: 'transfer', args: [v, a, from, to, size(state.balance(v, from, a), c.amt)] };
    }
    case 'partition': {
      const cuts = c.cuts.slice(0, c.n - 1).sort((x, y) => x - y);
      const bounds = [0, ...cuts, 1000];
      const children = Array.from({ length: c.n }, (_, i) => ({
        name: ['nash', 'optimal', 'chaos'][i] as string,
        probability: ((bounds[i + 1] as number) - (bounds[i] as number) + (c.skew && i === 0 ? 1 : 0)) / 1000,
        trit: c.trits[i] as Trit,
      }));
      const event = c.reuse && events.length > 0 ? pick(events, c.v) : `e${events.length + 1}`;
      return { method: 'partition', args: [pick(verses, c.v), { event, children, allowUnbalancedTrits: c.allow }] };
    }
    case 'pushDown': {
      const [e, a] = [eventOf(c.e), pick(ASSETS, c.a)];
      const parent = state.eventMap.get(e)?.parent ?? 'root';
      const o = owner(c.o, (x) => state.balance(parent, x, a));
      return { method: 'pushDown', args: [e, o, a, size(state.balance(parent, o, a), c.amt)] };
    }
    case 'pullUp': {
      const [e, a] = [eventOf(c.e), pick(ASSETS, c.a)];
      const ev = state.eventMap.get(e);
      const survivors = ev ? (ev.resolved && ev.winner ? [ev.winner] : ev.children) : [];
      const min = (o: string): bigint =>
        survivors.reduce<bigint | null>((m, v) => {
          const b = state.balance(v, o, a);
          return m === null || b < m ? b : m;
        }, null) ?? 0n;
      const o = owner(c.o, min);
      return { method: 'pullUp', args: [e, o, a, size(min(o), c.amt)] };
    }
    case 'resolve': {
      const e = eventOf(c.e);
      const kids = state.eventMap.get(e)?.children ?? [];
      // Mostly a child of the event; sometimes any verse, to hit NOT_A_PARTITION.
      const w = c.w % 5 === 4 || kids.length === 0 ? pick(verses, c.w) : pick(kids, c.w);
      return { method: 'resolve', args: [e, w, 'manual'] };
    }
  }
}

/** Outcome of one call: accepted with its result, or refused with a reason. */
export type Outcome = { ok: true; result: unknown; entry: JournalEntry } | { ok: false; reason: string | undefined };

/** Apply a call to the pure state the way `Ledger` does, recording accepted flows. */
export function applyPure(state: LedgerState, call: Call, flows: Flows, ts = new Date().toISOString()): Outcome {
  const [a0, a1, a2, a3, a4] = call.args as [unknown, unknown, unknown, unknown, unknown];
  const raw: Record<Call['method'], () => Record<string, unknown>> = {
    deposit: () => ({ owner: a0, asset: a1, amount: a2 }),
    withdraw: () => ({ owner: a0, asset: a1, amount: a2 }),
    transfer: () => ({ verse: a0, asset: a1, from: a2, to: a3, amount: a4 }),
    partition: () => ({ ...(a1 as object), parent: a0 }),
    pushDown: () => ({ event: a0, owner: a1, asset: a2, amount: a3 }),
    pullUp: () => ({ event: a0, owner: a1, asset: a2, amount: a3 }),
    resolve: () => ({ event: a0, winner: a1, oracleSource: a2 }),
  };
  try {
    if ((call.method === 'deposit' || call.method === 'withdraw') && call.args.length > 3) rootOnly(call.method, a3);
    const applied = applyOp(state, normalizeOp(call.method, raw[call.method]()), ts);
    const e = applied.entry;
    if (e.op === 'deposit') bump(flows.deposits, `${e.args.owner}|${e.args.asset}`, e.args.amount);
    if (e.op === 'withdraw') bump(flows.deposits, `${e.args.owner}|${e.args.asset}`, -e.args.amount);
    if (e.op === 'transfer') {
      bump(flows.transfers, `${e.args.verse}|${e.args.from}|${e.args.asset}`, -e.args.amount);
      bump(flows.transfers, `${e.args.verse}|${e.args.to}|${e.args.asset}`, e.args.amount);
    }
    return { ok: true, result: applied.result ?? e.seq, entry: e };
  } catch (err) {
    const reason = reasonOf(err);
    if (reason === undefined) throw err;
    return { ok: false, reason };
  }
}
