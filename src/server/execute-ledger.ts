/**
 * @module
 * The `ledger.*` handlers of the `Executor`: each runs one operation of the runtime's Multiverse Finance
 * ledger (`rt.ledger`) and answers plain JSON, amounts as decimal strings. A rejected operation throws the
 * ledger's `LedgerError`; `reply.ts` maps its `details.reason` to a status.
 */
import type { Ledger } from '../ledger/index.js';
import type { EventInfo, JournalEntry, LedgerOpName } from '../ledger/types.js';
import type { ActionKind } from '../protocol/actions.js';
import type { BalanceInfo, JournalInfo, LedgerEventInfo, LedgerOpReply } from '../protocol/results.js';
import { amountMap, jsonSafe, toBigint } from './convert.js';
import type { HandlerSet } from './handlers.js';

export type LedgerKind = Extract<ActionKind, `ledger.${string}`>;

/** (verse, owner, asset) */
type Touched = [string, string, string];

async function opReply(L: Ledger, seq: number, op: LedgerOpName, args: Record<string, unknown>, touched: Touched[]): Promise<LedgerOpReply> {
  const balances: BalanceInfo[] = await Promise.all(
    touched.map(async ([verse, owner, asset]) => ({ verse, owner, asset, amount: (await L.balance(verse, owner, asset)).toString() })),
  );
  return { seq, op, args, balances };
}

/** The parent and the children of an event: the verses a push-down or pull-up touches. */
async function eventVerses(L: Ledger, event: string): Promise<string[]> {
  const e = (await L.events()).find((x) => x.id === event);
  return e ? [e.parent, ...e.children] : [];
}

function eventInfo(e: EventInfo): LedgerEventInfo {
  return { ...e, wev: e.wev ? amountMap(e.wev) : null };
}

function journalInfo(e: JournalEntry): JournalInfo {
  return { seq: e.seq, ts: e.ts, op: e.op, args: jsonSafe(e.args) as Record<string, unknown> };
}

/** The ledger handlers, reading the ledger through `ledger()` (the runtime's, checked open on each call). */
export function ledgerHandlers(ledger: () => Ledger): HandlerSet<LedgerKind> {
  return {
    'ledger.deposit': async (a) => {
      const L = ledger();
      const verse = a.verse ?? L.root;
      const seq = await L.deposit(a.owner, a.asset, toBigint(a.amount), verse);
      return opReply(L, seq, 'deposit', { owner: a.owner, asset: a.asset, amount: a.amount }, [[verse, a.owner, a.asset]]);
    },
    'ledger.withdraw': async (a) => {
      const L = ledger();
      const verse = a.verse ?? L.root;
      const seq = await L.withdraw(a.owner, a.asset, toBigint(a.amount), verse);
      return opReply(L, seq, 'withdraw', { owner: a.owner, asset: a.asset, amount: a.amount }, [[verse, a.owner, a.asset]]);
    },
    'ledger.transfer': async (a) => {
      const L = ledger();
      const seq = await L.transfer(a.verse, a.asset, a.from, a.to, toBigint(a.amount));
      return opReply(L, seq, 'transfer', { verse: a.verse, asset: a.asset, from: a.from, to: a.to, amount: a.amount }, [
        [a.verse, a.from, a.asset],
        [a.verse, a.to, a.asset],
      ]);
    },
    'ledger.pushDown': async (a) => {
      const L = ledger();
      const seq = await L.pushDown(a.event, a.owner, a.asset, toBigint(a.amount));
      const touched = (await eventVerses(L, a.event)).map((v): Touched => [v, a.owner, a.asset]);
      return opReply(L, seq, 'pushDown', { event: a.event, owner: a.owner, asset: a.asset, amount: a.amount }, touched);
    },
    'ledger.pullUp': async (a) => {
      const L = ledger();
      const seq = await L.pullUp(a.event, a.owner, a.asset, toBigint(a.amount));
      const touched = (await eventVerses(L, a.event)).map((v): Touched => [v, a.owner, a.asset]);
      return opReply(L, seq, 'pullUp', { event: a.event, owner: a.owner, asset: a.asset, amount: a.amount }, touched);
    },
    'ledger.balances': async (a) => {
      const rows = (await ledger().balances()).filter(
        (b) =>
          (a.verse === undefined || b.verse === a.verse) && (a.owner === undefined || b.owner === a.owner) && (a.asset === undefined || b.asset === a.asset),
      );
      return { balances: rows.map((b) => ({ verse: b.verse, owner: b.owner, asset: b.asset, amount: b.amount.toString() })) };
    },
    'ledger.verses': async () => ({ verses: await ledger().verses() }),
    'ledger.events': async () => ({ events: (await ledger().events()).map(eventInfo) }),
    'ledger.journal': async (a) => {
      const all = await ledger().journal();
      const rows = a.limit !== undefined ? all.slice(Math.max(0, all.length - a.limit)) : all;
      return { journal: rows.map(journalInfo) };
    },
    'ledger.check': async () => ledger().check(),
  };
}
