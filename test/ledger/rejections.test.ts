/**
 * Every rejection the ledger knows, on a real DuckDB file: each one throws a LedgerError with the
 * expected `details.reason` and changes nothing (balances, verses, events, journal, and after reopening
 * the file). Positive controls show the same calls with valid arguments are accepted.
 */

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { LedgerError } from '../../src/base/errors.js';
import { Ledger, MAX_AMOUNT, type ChildSpec } from '../../src/ledger/index.js';
import { tempDir } from './oracle.js';

const tmp = tempDir();
const path = join(tmp.dir, 'rejections.duckdb');
let L: Ledger;

async function observe(l: Ledger): Promise<unknown> {
  return { balances: await l.balances(), verses: await l.verses(), events: await l.events(), journal: await l.journal() };
}

const triad = [
  { name: 'a', probability: '0.5', trit: 1 as const },
  { name: 'b', probability: '0.3', trit: -1 as const },
  { name: 'c', probability: '0.2', trit: 0 as const },
];
const P: ChildSpec = { name: 'p', probability: 0.5, trit: 1 };
const Q: ChildSpec = { name: 'q', probability: 0.5, trit: -1 };
const pair = [P, Q];

before(async () => {
  L = await Ledger.open(path);
  await L.deposit('alice', 'usd', 100n);
  await L.deposit('bob', 'usd', 50n);
  await L.partition(L.root, { event: 'race', children: triad });
  await L.pushDown('race', 'alice', 'usd', 40n);
  await L.partition('race/b', { event: 'sub', children: [{ name: 'x', probability: 1, trit: 0 }] });
  await L.pushDown('sub', 'alice', 'usd', 10n);
  await L.resolve('race', 'race/a', 'manual'); // race/b, race/c, sub/x collapse
  await L.partition(L.root, { event: 'open', children: pair });
  await L.pushDown('open', 'bob', 'usd', 20n);
});

after(async () => {
  await L.close();
  tmp.cleanup();
});

const cases: [reason: string, label: string, run: () => Promise<unknown>][] = [
  ['INSUFFICIENT_BALANCE', 'withdraw more than the root holds', () => L.withdraw('alice', 'usd', 61n)],
  ['INSUFFICIENT_BALANCE', 'transfer more than the sender holds', () => L.transfer(L.root, 'usd', 'bob', 'carol', 31n)],
  ['INSUFFICIENT_BALANCE', 'push down with nothing in the parent', () => L.pushDown('open', 'carol', 'usd', 1n)],
  ['INSUFFICIENT_BALANCE', 'pull up more than one child holds', () => L.pullUp('open', 'bob', 'usd', 21n)],
  ['INSUFFICIENT_BALANCE', 'pull up from the winner beyond its balance', () => L.pullUp('race', 'alice', 'usd', 41n)],
  ['COLLAPSED_VERSE', 'transfer inside a losing verse', () => L.transfer('race/b', 'usd', 'alice', 'bob', 1n)],
  ['COLLAPSED_VERSE', 'transfer inside a descendant of a loser', () => L.transfer('sub/x', 'usd', 'alice', 'bob', 1n)],
  ['COLLAPSED_VERSE', 'partition a collapsed verse', () => L.partition('race/c', { event: 'late', children: pair })],
  ['COLLAPSED_VERSE', 'push down into an event under a collapsed verse', () => L.pushDown('sub', 'alice', 'usd', 1n)],
  ['COLLAPSED_VERSE', 'pull up from an event under a collapsed verse', () => L.pullUp('sub', 'alice', 'usd', 1n)],
  ['COLLAPSED_VERSE', 'resolve an event under a collapsed verse', () => L.resolve('sub', 'sub/x', 'manual')],
  ['EVENT_RESOLVED', 'resolve twice', () => L.resolve('race', 'race/b', 'manual')],
  ['EVENT_RESOLVED', 'push down into a resolved event', () => L.pushDown('race', 'alice', 'usd', 1n)],
  ['UNKNOWN_VERSE', 'transfer in an unknown verse', () => L.transfer('nowhere', 'usd', 'alice', 'bob', 1n)],
  ['UNKNOWN_VERSE', 'partition an unknown verse', () => L.partition('nowhere', { event: 'n', children: pair })],
  ['UNKNOWN_VERSE', 'resolve with an unknown winner', () => L.resolve('open', 'open/zzz', 'manual')],
  ['UNKNOWN_VERSE', 'read the balance of an unknown verse', () => L.balance('nowhere', 'alice', 'usd')],
  ['UNKNOWN_EVENT', 'push down into an unknown event', () => L.pushDown('nope', 'alice', 'usd', 1n)],
  ['UNKNOWN_EVENT', 'pull up from an unknown event', () => L.pullUp('nope', 'alice', 'usd', 1n)],
  ['UNKNOWN_EVENT', 'resolve an unknown event', () => L.resolve('nope', 'open/p', 'manual')],
  ['NOT_A_PARTITION', 'a partition without children', () => L.partition(L.root, { event: 'empty', children: [] })],
  ['NOT_A_PARTITION', 'children with the same name', () => L.partition(L.root, { event: 'dup', children: [P, { ...Q, name: 'p' }] })],
  ['NOT_A_PARTITION', 'a winner that is not a child of the event', () => L.resolve('open', 'race/a', 'manual')],
  ['DUPLICATE_EVENT', 'an event id that already exists', () => L.partition('race/a', { event: 'open', children: pair })],
  ['BAD_PROBABILITIES', 'probabilities summing to 0.9', () => L.partition(L.root, { event: 'e', children: [P, { ...Q, probability: '0.4' }] })],
  ['BAD_PROBABILITIES', 'probabilities summing to 1.1', () => L.partition(L.root, { event: 'e', children: [P, { ...Q, probability: 0.6 }] })],
  ['BAD_PROBABILITIES', 'a sum off by 10^-18', () => L.partition(L.root, { event: 'e', children: [P, { ...Q, probability: '0.500000000000000001' }] })],
  ['BAD_PROBABILITIES', 'more than 18 decimals', () => L.partition(L.root, { event: 'e', children: [{ ...P, probability: '0.5000000000000000001' }, Q] })],
  ['BAD_PROBABILITIES', 'a negative probability', () => L.partition(L.root, { event: 'e', children: [{ ...P, probability: -0.5 }, Q] })],
  [
    'BAD_PROBABILITIES',
    'a probability above 1',
    () =>
      L.partition(L.root, {
        event: 'e',
        children: [
          { ...P, probability: '1.5' },
          { ...Q, probability: 0 },
        ],
      }),
  ],
  ['BAD_PROBABILITIES', 'not a number', () => L.partition(L.root, { event: 'e', children: [{ ...P, probability: 'half' }, Q] })],
  ['GF3_UNBALANCED', 'trits summing to 2', () => L.partition(L.root, { event: 'e', children: [P, { ...Q, trit: 1 }] })],
  ['ROOT_ONLY', 'deposit into a child verse', () => L.deposit('alice', 'usd', 1n, 'race/a')],
  ['ROOT_ONLY', 'withdraw from a child verse', () => L.withdraw('bob', 'usd', 1n, 'open/p')],
  ['INVALID_AMOUNT', 'a zero amount', () => L.deposit('alice', 'usd', 0n)],
  ['INVALID_AMOUNT', 'a negative amount', () => L.transfer(L.root, 'usd', 'alice', 'bob', -5n)],
  ['INVALID_AMOUNT', 'a number instead of a bigint', () => L.deposit('alice', 'usd', 5 as unknown as bigint)],
  ['INVALID_AMOUNT', 'an amount above 2^128-1', () => L.deposit('alice', 'usd', MAX_AMOUNT + 1n)],
  ['INVALID_AMOUNT', 'a deposit that would overflow the entry', () => L.deposit('alice', 'usd', MAX_AMOUNT)],
  ['INVALID_ARGUMENT', 'an empty owner', () => L.deposit('', 'usd', 1n)],
  ['INVALID_ARGUMENT', 'a control character in an asset', () => L.deposit('alice', 'us\u0000d', 1n)],
  ['INVALID_ARGUMENT', 'a lone surrogate in an owner', () => L.deposit('al\ud800ice', 'usd', 1n)],
  ['INVALID_ARGUMENT', 'a "/" in a child name', () => L.partition(L.root, { event: 'e', children: [{ ...P, name: 'p/1' }, Q] })],
  ['INVALID_ARGUMENT', 'a trit of 2', () => L.partition(L.root, { event: 'e', children: [{ ...P, trit: 2 as 1 }, Q] })],
];

test('every rejection throws a LedgerError with its reason and changes nothing', async () => {
  const seen = new Set<string>();
  for (const [reason, label, run] of cases) {
    const before = await observe(L);
    await assert.rejects(run(), (err: unknown) => {
      assert.ok(err instanceof LedgerError, `${label}: not a LedgerError: ${String(err)}`);
      assert.equal(err.code, 'LEDGER');
      assert.equal(err.details.reason, reason, `${label}: ${err.message}`);
      return true;
    });
    assert.deepEqual(await observe(L), before, `${label} changed the ledger`);
    seen.add(reason);
  }
  assert.equal(seen.size, 12);
});

test('positive controls: the same operations with valid arguments are accepted', async () => {
  const seq = L.committedSeq;
  await L.withdraw('alice', 'usd', 60n);
  await L.pullUp('open', 'bob', 'usd', 20n);
  await L.pullUp('race', 'alice', 'usd', 40n); // after resolution the winner alone forms the partition
  const kids = await L.partition(L.root, { event: 'odd', children: [P, { ...Q, trit: 1 }], allowUnbalancedTrits: true });
  assert.deepEqual(kids, ['odd/p', 'odd/q']);
  assert.equal((await L.events()).find((e) => e.id === 'odd')?.gf3Sum, 2);
  assert.equal(L.committedSeq, seq + 4);
  assert.deepEqual(await L.balances(), [
    { verse: 'root', owner: 'alice', asset: 'usd', amount: 40n },
    { verse: 'root', owner: 'bob', asset: 'usd', amount: 50n },
  ]);
});

test('after all of it the file reopens with the same state and passes check()', async () => {
  const before = await observe(L);
  await L.close();
  L = await Ledger.open(path);
  assert.deepEqual(await observe(L), before);
  assert.deepEqual((await L.check()).problems, []);
});
