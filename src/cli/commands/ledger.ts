/**
 * @module
 * `world-runtime ledger <subcommand>`: the Multiverse Finance ledger of the daemon (deposit, withdraw,
 * transfer, push-down, pull-up, balances, journal, verses, events, check). Amounts are whole numbers of any
 * size, written in decimal.
 */
import type { DaemonClient } from '../../client/client.js';
import type { LedgerOpReply } from '../../protocol/results.js';
import { type Command, type Context, intOption, UsageError, type Values } from '../command.js';
import { cell, keyValues, table, time, trit } from '../format.js';
import { amounts } from './verses.js';
import { LAST } from './worlds.js';

/** A whole number ≥ 0 in decimal (the ledger refuses 0 itself). */
function amount(raw: string): string {
  if (!/^[0-9]+$/.test(raw)) throw new UsageError(`AMOUNT: expected a whole number in decimal digits, got ${JSON.stringify(raw)}`);
  return raw;
}

/** A ledger event id, with `last` resolved to the newest ledger event. */
async function ledgerEvent(client: DaemonClient, id: string): Promise<string> {
  if (id !== LAST) return id;
  const e = (await client.dispatch({ kind: 'ledger.events' })).events.at(-1);
  if (!e) throw new UsageError('"last": the ledger has no event yet (push a world down first with world-runtime push-down)');
  return e.id;
}

function showOp(ctx: Context, r: LedgerOpReply, line: string): void {
  if (ctx.json) {
    ctx.out(JSON.stringify(r, null, 2));
    return;
  }
  ctx.out(`${line} (seq ${r.seq})`);
  ctx.out(
    table(
      ['VERSE', 'OWNER', 'ASSET', 'AMOUNT'],
      r.balances.map((b) => [b.verse, b.owner, b.asset, b.amount]),
    ),
  );
}

interface Sub {
  args: string[];
  options?: string[];
  summary: string;
  run(ctx: Context, client: DaemonClient, args: string[], v: Values): Promise<number>;
}

const SUBS: Record<string, Sub> = {
  deposit: {
    args: ['owner', 'asset', 'amount'],
    options: ['verse'],
    summary: 'credit OWNER in the root verse',
    async run(ctx, client, [owner, asset, n], v) {
      const r = await client.dispatch({
        kind: 'ledger.deposit',
        owner: owner as string,
        asset: asset as string,
        amount: amount(n as string),
        ...(typeof v.verse === 'string' ? { verse: v.verse } : {}),
      });
      showOp(ctx, r, `deposited ${r.args.amount} ${asset} to ${owner}`);
      return 0;
    },
  },
  withdraw: {
    args: ['owner', 'asset', 'amount'],
    options: ['verse'],
    summary: "debit OWNER's root balance",
    async run(ctx, client, [owner, asset, n], v) {
      const r = await client.dispatch({
        kind: 'ledger.withdraw',
        owner: owner as string,
        asset: asset as string,
        amount: amount(n as string),
        ...(typeof v.verse === 'string' ? { verse: v.verse } : {}),
      });
      showOp(ctx, r, `withdrew ${r.args.amount} ${asset} from ${owner}`);
      return 0;
    },
  },
  transfer: {
    args: ['verse', 'asset', 'from', 'to', 'amount'],
    summary: 'move AMOUNT from FROM to TO inside one live verse',
    async run(ctx, client, [verse, asset, from, to, n]) {
      const r = await client.dispatch({
        kind: 'ledger.transfer',
        verse: verse as string,
        asset: asset as string,
        from: from as string,
        to: to as string,
        amount: amount(n as string),
      });
      showOp(ctx, r, `transferred ${r.args.amount} ${asset} from ${from} to ${to} in ${verse}`);
      return 0;
    },
  },
  'push-down': {
    args: ['event', 'owner', 'asset', 'amount'],
    summary: "move AMOUNT of OWNER's from the event's parent into every child (AMOUNT each)",
    async run(ctx, client, [given, owner, asset, n]) {
      const event = await ledgerEvent(client, given as string);
      const r = await client.dispatch({ kind: 'ledger.pushDown', event, owner: owner as string, asset: asset as string, amount: amount(n as string) });
      showOp(ctx, r, `pushed ${r.args.amount} ${asset} of ${owner} down into every verse of ${event}`);
      return 0;
    },
  },
  'pull-up': {
    args: ['event', 'owner', 'asset', 'amount'],
    summary: 'take AMOUNT from every surviving child of the event, credit it once to the parent',
    async run(ctx, client, [given, owner, asset, n]) {
      const event = await ledgerEvent(client, given as string);
      const r = await client.dispatch({ kind: 'ledger.pullUp', event, owner: owner as string, asset: asset as string, amount: amount(n as string) });
      showOp(ctx, r, `pulled ${r.args.amount} ${asset} of ${owner} up from ${event}`);
      return 0;
    },
  },
  balances: {
    args: [],
    options: ['verse', 'owner', 'asset'],
    summary: 'every non-zero balance (filter with --verse, --owner, --asset)',
    async run(ctx, client, _a, v) {
      const r = await client.dispatch({
        kind: 'ledger.balances',
        ...(typeof v.verse === 'string' ? { verse: v.verse } : {}),
        ...(typeof v.owner === 'string' ? { owner: v.owner } : {}),
        ...(typeof v.asset === 'string' ? { asset: v.asset } : {}),
      });
      if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
      else
        ctx.out(
          table(
            ['VERSE', 'OWNER', 'ASSET', 'AMOUNT'],
            r.balances.map((b) => [b.verse, b.owner, b.asset, b.amount]),
          ),
        );
      return 0;
    },
  },
  journal: {
    args: [],
    options: ['limit'],
    summary: 'the append-only journal, oldest first (-n N: the newest N)',
    async run(ctx, client, _a, v) {
      const limit = intOption(v, 'limit', 1, 1_000_000);
      const r = await client.dispatch({ kind: 'ledger.journal', ...(limit !== undefined ? { limit } : {}) });
      if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
      else {
        const show = (args: Record<string, unknown>) =>
          Object.entries(args)
            .map(([k, x]) => `${k}=${cell(x)}`)
            .join(' ');
        ctx.out(
          table(
            ['SEQ', 'AT', 'OP', 'ARGS'],
            r.journal.map((e) => [e.seq, time(e.ts), e.op, show(e.args)]),
          ),
        );
      }
      return 0;
    },
  },
  verses: {
    args: [],
    summary: 'every ledger verse (the root first)',
    async run(ctx, client) {
      const r = await client.dispatch({ kind: 'ledger.verses' });
      if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
      else {
        const state = (x: { collapsed: boolean; outcome: boolean | null }) => (x.collapsed ? 'collapsed' : x.outcome === true ? 'won' : 'live');
        ctx.out(
          table(
            ['VERSE', 'PARENT', 'EVENT', 'P', 'TRIT', 'STATE'],
            r.verses.map((x) => [x.id, x.parent, x.event, x.probability, trit(x.trit), state(x)]),
          ),
        );
      }
      return 0;
    },
  },
  events: {
    args: [],
    summary: 'every ledger event (partition), with winner and WEV once resolved',
    async run(ctx, client) {
      const r = await client.dispatch({ kind: 'ledger.events' });
      if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
      else
        ctx.out(
          table(
            ['EVENT', 'PARENT', 'CHILDREN', 'GF3', 'RESOLVED', 'WINNER', 'ORACLE', 'WEV'],
            r.events.map((e) => [
              e.id,
              e.parent,
              e.children.length,
              e.gf3Sum,
              e.resolved ? 'yes' : 'no',
              e.winner,
              e.oracleSource,
              e.wev ? amounts(e.wev) : null,
            ]),
          ),
        );
      return 0;
    },
  },
  check: {
    args: [],
    summary: 'replay the journal and verify balances and invariants (exit 1 on a problem)',
    async run(ctx, client) {
      const r = await client.dispatch({ kind: 'ledger.check' });
      if (ctx.json) ctx.out(JSON.stringify(r, null, 2));
      else {
        ctx.out(
          keyValues([
            ['ok', r.ok ? 'yes' : 'NO'],
            ['operations', r.ops],
            ['balances', r.balances],
          ]),
        );
        for (const p of r.problems) ctx.out(`  - ${p}`);
      }
      return r.ok ? 0 : 1;
    },
  },
};

const SUB_OPTIONS = ['verse', 'owner', 'asset', 'limit'];

const width = Math.max(...Object.entries(SUBS).map(([name, s]) => `${name} ${s.args.map((a) => a.toUpperCase()).join(' ')}`.length));

export const ledger: Command = {
  name: 'ledger',
  summary: 'the Multiverse Finance ledger: deposit, withdraw, transfer, push-down, pull-up, balances, journal',
  usage: 'world-runtime ledger <subcommand> [args...] [options]',
  options: { verse: { type: 'string' }, owner: { type: 'string' }, asset: { type: 'string' }, limit: { type: 'string', short: 'n' } },
  help: `Subcommands:
${Object.entries(SUBS)
  .map(([name, s]) => `  ${`${name} ${s.args.map((a) => a.toUpperCase()).join(' ')}`.padEnd(width)}  ${s.summary}`)
  .join('\n')}
Options:
  --verse V                  deposit/withdraw: must be root (the default); balances: only verse V
  --owner O, --asset A       balances: only this owner / asset
  -n, --limit N              journal: the newest N entries
AMOUNT is a whole number in decimal (any size up to 2^128-1). EVENT may be last (the newest ledger event).
Balances live in verses: the root holds deposits; push-down copies an owner's amount into every child of an
event; pull-up needs it in every surviving child; a resolution evaporates the losers' balances (the WEV).`,
  async run(ctx, v, pos) {
    const [name, ...args] = pos;
    if (name === undefined) throw new UsageError(`missing <subcommand> (one of ${Object.keys(SUBS).join(', ')})`);
    const sub = SUBS[name];
    if (!sub) throw new UsageError(`unknown ledger subcommand ${JSON.stringify(name)} (one of ${Object.keys(SUBS).join(', ')})`);
    for (const o of SUB_OPTIONS) {
      if (v[o] !== undefined && !(sub.options ?? []).includes(o)) throw new UsageError(`--${o} does not apply to ledger ${name}`);
    }
    if (args.length < sub.args.length) {
      throw new UsageError(
        `ledger ${name}: missing ${sub.args
          .slice(args.length)
          .map((a) => `<${a}>`)
          .join(' ')}`,
      );
    }
    if (args.length > sub.args.length) throw new UsageError(`ledger ${name}: unexpected argument ${JSON.stringify(args[sub.args.length])}`);
    if (sub.args.includes('amount')) amount(args[sub.args.indexOf('amount')] as string);
    return sub.run(ctx, await ctx.client(), args, v);
  },
};
