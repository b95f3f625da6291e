/**
 * Property-based tests of the pure ledger state: random sequences of every operation over nested
 * partitions. After each step: rejected ops changed nothing; no balance is negative; for every asset,
 * owner and still-possible outcome, balances sum to net deposits (brute-force oracle); the library's own
 * audit agrees; and replaying the journal from empty reproduces the state exactly.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { auditState, LedgerState, replay, type JournalEntry } from '../../src/ledger/index.js';
import { decodeEntry, encodeArgs } from '../../src/ledger/codec.js';
import { applyPure, cmdArb, toCall } from './gen.js';
import { assertInvariant, emptyFlows, outcomes, snapshot } from './oracle.js';

test('random operation sequences keep every invariant, and replay reproduces the state', (t) => {
  const seen = { accepted: new Map<string, number>(), rejected: new Map<string, number>(), maxOutcomes: 0 };
  fc.assert(
    fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 60, size: 'max' }), (cmds) => {
      const state = new LedgerState();
      const flows = emptyFlows();
      const journal: JournalEntry[] = [];
      for (const cmd of cmds) {
        const call = toCall(state, cmd);
        const before = snapshot(state);
        const out = applyPure(state, call, flows);
        if (!out.ok) {
          assert.ok(out.reason, 'every rejection carries a reason');
          assert.deepEqual(snapshot(state), before, `rejected ${call.method} (${out.reason}) changed the state`);
          seen.rejected.set(out.reason, (seen.rejected.get(out.reason) ?? 0) + 1);
          continue;
        }
        seen.accepted.set(call.method, (seen.accepted.get(call.method) ?? 0) + 1);
        // Through the journal's JSON codec, as it is stored: replay must need nothing else.
        const e = out.entry;
        assert.equal(e.seq, journal.length + 1);
        journal.push(decodeEntry(e.seq, e.op, encodeArgs(e), Date.parse(e.ts)));
        assertInvariant(state, flows);
        seen.maxOutcomes = Math.max(seen.maxOutcomes, outcomes(state).length);
        const r = replay(journal);
        assert.deepEqual(r.state.balanceRows(), state.balanceRows());
        assert.deepEqual(r.state.verseInfos(), state.verseInfos());
        assert.deepEqual(r.state.eventInfos(), state.eventInfos());
        assert.deepEqual(auditState(r), []);
      }
    }),
    { numRuns: 250 },
  );
  t.diagnostic(
    `coverage ${JSON.stringify({ accepted: Object.fromEntries(seen.accepted), rejected: Object.fromEntries(seen.rejected), maxOutcomes: seen.maxOutcomes })}`,
  );
  // The generator must actually reach every operation and the interesting rejections, or the property is weak.
  for (const m of ['deposit', 'withdraw', 'transfer', 'partition', 'pushDown', 'pullUp', 'resolve']) {
    assert.ok((seen.accepted.get(m) ?? 0) > 50, `too few accepted ${m}: ${seen.accepted.get(m) ?? 0}`);
  }
  for (const r of ['INSUFFICIENT_BALANCE', 'COLLAPSED_VERSE', 'EVENT_RESOLVED', 'NOT_A_PARTITION', 'BAD_PROBABILITIES', 'GF3_UNBALANCED']) {
    assert.ok((seen.rejected.get(r) ?? 0) > 0, `no ${r} rejection was generated`);
  }
  assert.ok(seen.maxOutcomes >= 4, `nesting too shallow: at most ${seen.maxOutcomes} outcomes`);
});

test('the brute-force oracle and auditState both catch a broken state (negative control)', () => {
  const state = new LedgerState();
  const flows = emptyFlows();
  for (const call of [
    { method: 'deposit' as const, args: ['alice', 'usd', 100n] },
    {
      method: 'partition' as const,
      args: [
        'root',
        {
          event: 'e',
          children: [
            { name: 'a', probability: '0.5', trit: 1 },
            { name: 'b', probability: '0.5', trit: -1 },
          ],
        },
      ],
    },
    { method: 'pushDown' as const, args: ['e', 'alice', 'usd', 30n] },
  ]) {
    assert.equal(applyPure(state, call, flows).ok, true);
  }
  assertInvariant(state, flows);
  // Credit one child only: outcome "e/a" now holds 101, "e/b" 100.
  state.setBalance('e/a', 'alice', 'usd', 31n);
  assert.throws(() => assertInvariant(state, flows), /outcome root > e\/a/);
  const r = { state, deposits: new Map([['alice\u0000usd', 100n]]), transfers: new Map() };
  assert.ok(auditState(r).some((p) => p.includes('outcomes disagree')));
});
