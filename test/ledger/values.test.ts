/**
 * Value handling: 18-decimal fixed-point probabilities, the journal's JSON codec, SQL literal quoting
 * (hostile and non-ASCII identifiers round-trip through DuckDB), and amounts up to 2^128 − 1.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeEntry, encodeArgs } from '../../src/ledger/codec.js';
import { formatProbability, Ledger, MAX_AMOUNT, parseProbability, PROBABILITY_SCALE } from '../../src/ledger/index.js';
import { tempDir } from './oracle.js';

const tmp = tempDir();
after(tmp.cleanup);

test('probabilities parse exactly to 18-decimal fixed point', () => {
  assert.equal(parseProbability('0.45', 'c'), 450_000_000_000_000_000n);
  assert.equal(parseProbability(0.45, 'c'), 450_000_000_000_000_000n);
  assert.equal(parseProbability(0.2, 'c') + parseProbability(0.35, 'c') + parseProbability(0.45, 'c'), PROBABILITY_SCALE);
  assert.equal(parseProbability('1', 'c'), PROBABILITY_SCALE);
  assert.equal(parseProbability('1.000', 'c'), PROBABILITY_SCALE);
  assert.equal(parseProbability('0', 'c'), 0n);
  assert.equal(parseProbability('0.000000000000000001', 'c'), 1n);
  assert.equal(parseProbability(1e-18, 'c'), 1n);
  assert.equal(parseProbability('4.5e-1', 'c'), 450_000_000_000_000_000n);
  for (const bad of ['0.0000000000000000001', 1e-19, '1.000000000000000001', '-0.5', 'NaN', Number.NaN, '', '.5', '0x1', Infinity, null]) {
    assert.throws(
      () => parseProbability(bad, 'c'),
      (e: { details?: { reason?: string } }) => e.details?.reason === 'BAD_PROBABILITIES',
      String(bad),
    );
  }
});

test('probabilities format canonically', () => {
  assert.equal(formatProbability(PROBABILITY_SCALE), '1');
  assert.equal(formatProbability(0n), '0');
  assert.equal(formatProbability(450_000_000_000_000_000n), '0.45');
  assert.equal(formatProbability(1n), '0.000000000000000001');
});

test('journal args survive the JSON codec, bigints included; damaged entries are refused', () => {
  const entry = {
    op: 'transfer' as const,
    args: { verse: 'root', asset: 'usd', from: 'a', to: 'b', amount: MAX_AMOUNT },
    seq: 7,
    ts: '2024-05-06T07:08:09.010Z',
  };
  assert.deepEqual(decodeEntry(7, 'transfer', encodeArgs(entry), Date.parse(entry.ts)), entry);
  for (const [op, json] of [
    ['transfer', '{"verse":"root","asset":"usd","from":"a","to":"b","amount":12}'], // a JSON number, not a decimal string
    ['teleport', '{}'],
    ['deposit', 'not json'],
  ] as const) {
    assert.throws(
      () => decodeEntry(1, op, json, 0),
      (e: { details?: { reason?: string } }) => e.details?.reason === 'CORRUPT_JOURNAL',
    );
  }
});

test('hostile and non-ASCII identifiers and the largest amount round-trip through DuckDB', async () => {
  const path = join(tmp.dir, 'values.duckdb');
  const owner = `o'); DROP TABLE ledger_journal; --`;
  const asset = '€uro 😀 "quoted"';
  const event = `ev'ent`;
  const L = await Ledger.open(path);
  await L.deposit(owner, asset, MAX_AMOUNT);
  const kids = await L.partition(L.root, { event, children: [{ name: `it's`, probability: '1', trit: 0 }] });
  await L.pushDown(event, owner, asset, MAX_AMOUNT);
  const { wev } = await L.resolve(event, kids[0] as string, `oracle "x" ' y`);
  assert.deepEqual(wev, {});
  await L.pullUp(event, owner, asset, MAX_AMOUNT);
  const before = { balances: await L.balances(), verses: await L.verses(), events: await L.events(), journal: await L.journal() };
  await L.close();
  const again = await Ledger.open(path);
  assert.deepEqual({ balances: await again.balances(), verses: await again.verses(), events: await again.events(), journal: await again.journal() }, before);
  assert.deepEqual(await again.balances(), [{ verse: 'root', owner, asset, amount: MAX_AMOUNT }]);
  assert.deepEqual((await again.check()).problems, []);
  await again.close();
});
