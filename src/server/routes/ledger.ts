/**
 * @module
 * `/v1/ledger/...`: the Multiverse Finance ledger. Operations (`deposit`, `withdraw`, `transfer`,
 * `push-down`, `pull-up`) are POSTs whose `amount` is a decimal string (or a JSON integer within 2^53);
 * reads (`balances`, `verses`, `events`, `journal`, `check`) are GETs. Amounts always answer as strings.
 */
import { parseAmount } from '../convert.js';
import { intQuery, type Route } from './route.js';

const MAX_LIMIT = 1_000_000;

type Body = Record<string, unknown>;

/** The checked body's string fields named in `keys` (present ones only) and its canonical amount. */
function opFields<K extends string>(body: unknown, keys: readonly K[]): Record<K, string> & { amount: string } {
  const b = body as Body;
  const out: Record<string, string> = {};
  for (const k of keys) if (typeof b[k] === 'string') out[k] = b[k] as string;
  out.amount = parseAmount(b.amount, 'body.amount');
  return out as Record<K, string> & { amount: string };
}

function stringQuery(q: URLSearchParams, name: string): string | undefined {
  return q.get(name) ?? undefined;
}

export const ledgerRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/ledger/deposit',
    body: 'json',
    schema: 'LedgerRootRequest',
    decode: ({ body }) => ({ kind: 'ledger.deposit', ...opFields(body, ['owner', 'asset', 'verse']) }),
  },
  {
    method: 'POST',
    path: '/v1/ledger/withdraw',
    body: 'json',
    schema: 'LedgerRootRequest',
    decode: ({ body }) => ({ kind: 'ledger.withdraw', ...opFields(body, ['owner', 'asset', 'verse']) }),
  },
  {
    method: 'POST',
    path: '/v1/ledger/transfer',
    body: 'json',
    schema: 'LedgerTransferRequest',
    decode: ({ body }) => ({ kind: 'ledger.transfer', ...opFields(body, ['verse', 'asset', 'from', 'to']) }),
  },
  {
    method: 'POST',
    path: '/v1/ledger/push-down',
    body: 'json',
    schema: 'LedgerEventRequest',
    decode: ({ body }) => ({ kind: 'ledger.pushDown', ...opFields(body, ['event', 'owner', 'asset']) }),
  },
  {
    method: 'POST',
    path: '/v1/ledger/pull-up',
    body: 'json',
    schema: 'LedgerEventRequest',
    decode: ({ body }) => ({ kind: 'ledger.pullUp', ...opFields(body, ['event', 'owner', 'asset']) }),
  },
  {
    method: 'GET',
    path: '/v1/ledger/balances',
    body: 'none',
    query: ['verse', 'owner', 'asset'],
    decode: ({ query }) => {
      const verse = stringQuery(query, 'verse');
      const owner = stringQuery(query, 'owner');
      const asset = stringQuery(query, 'asset');
      return {
        kind: 'ledger.balances',
        ...(verse !== undefined ? { verse } : {}),
        ...(owner !== undefined ? { owner } : {}),
        ...(asset !== undefined ? { asset } : {}),
      };
    },
  },
  { method: 'GET', path: '/v1/ledger/verses', body: 'none', decode: () => ({ kind: 'ledger.verses' }) },
  { method: 'GET', path: '/v1/ledger/events', body: 'none', decode: () => ({ kind: 'ledger.events' }) },
  {
    method: 'GET',
    path: '/v1/ledger/journal',
    body: 'none',
    query: ['limit'],
    decode: ({ query }) => {
      const limit = intQuery(query, 'limit', 1, MAX_LIMIT);
      return { kind: 'ledger.journal', ...(limit !== undefined ? { limit } : {}) };
    },
  },
  { method: 'GET', path: '/v1/ledger/check', body: 'none', decode: () => ({ kind: 'ledger.check' }) },
];
