/**
 * Property-based test of the DuckDB-backed `Ledger` against the pure state machine: random groups of
 * operations are issued concurrently (so they share group-commit batches, accepted and rejected mixed),
 * and must behave exactly like the same calls applied one by one to a pure `LedgerState`. After each group
 * the invariants hold and the stored journal, replayed from empty, reproduces the balances; at the end
 * `check()` passes and a reopened ledger holds the same state.
 */

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { join } from 'node:path';
import fc from 'fast-check';
import { Ledger, LedgerState, replay } from '../../src/ledger/index.js';
import { applyPure, cmdArb, toCall, type Call, type Outcome } from './gen.js';
import { assertInvariant, emptyFlows, tempDir } from './oracle.js';

const tmp = tempDir();
after(tmp.cleanup);
let runs = 0;

function callLedger(L: Ledger, call: Call): Promise<unknown> {
  const fn = L[call.method] as (...args: unknown[]) => Promise<unknown>;
  return fn.apply(L, call.args);
}

test('Ledger on DuckDB matches the pure model under concurrent groups, and survives reopening', async () => {
  let batchedGroups = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(cmdArb, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 18, size: 'max' }), async (groups) => {
      const path = join(tmp.dir, `run-${++runs}.duckdb`);
      const L = await Ledger.open(path);
      const mirror = new LedgerState();
      const flows = emptyFlows();
      try {
        for (const group of groups) {
          const expected: Outcome[] = [];
          const calls: Call[] = [];
          for (const cmd of group) {
            const call = toCall(mirror, cmd);
            calls.push(call);
            expected.push(applyPure(mirror, call, flows));
          }
          const before = L.commitStats.batches;
          // Issued without awaiting in between: they are applied in call order and committed together.
          const settled = await Promise.allSettled(calls.map((c) => callLedger(L, c)));
          if (group.length > 1 && L.commitStats.batches - before === 1) batchedGroups++;
          settled.forEach((s, i) => {
            const want = expected[i] as Outcome;
            const what = `${calls[i]?.method} #${i} of group`;
            if (want.ok) {
              assert.equal(s.status, 'fulfilled', `${what} should be accepted: ${s.status === 'rejected' ? String(s.reason) : ''}`);
              assert.deepEqual((s as PromiseFulfilledResult<unknown>).value, want.result, what);
            } else {
              assert.equal(s.status, 'rejected', `${what} should be refused with ${want.reason}`);
              assert.equal((s as PromiseRejectedResult).reason?.details?.reason, want.reason, what);
            }
          });
          assert.deepEqual(await L.balances(), mirror.balanceRows());
          assertInvariant(mirror, flows);
          const journal = await L.journal();
          assert.equal(journal.length, mirror.seq);
          assert.deepEqual(replay(journal).state.balanceRows(), mirror.balanceRows());
        }
        const report = await L.check();
        assert.deepEqual(report.problems, []);
      } finally {
        await L.close();
      }
      const again = await Ledger.open(path);
      try {
        assert.deepEqual(await again.balances(), mirror.balanceRows());
        assert.deepEqual(await again.verses(), mirror.verseInfos());
        assert.deepEqual(await again.events(), mirror.eventInfos());
        assert.equal((await again.journal()).length, mirror.seq);
        assert.equal((await again.check()).ok, true);
      } finally {
        await again.close();
      }
    }),
    { numRuns: 12 },
  );
  assert.ok(batchedGroups > 0, 'no group of concurrent calls ever shared one commit');
});
