import assert from 'node:assert/strict';
import { test } from 'node:test';
import { processesIn, withRuntime, worldTag } from '../fixtures/runtime.js';
import { waitFor } from '../fixtures/wait.js';

test('pushDown makes one verse world per child of the default triad (SEED_TRIAD), recorded as push_down', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('universe = list(range(10))');
    const pd = await rt.pushDown(w, { event: 'e1' });
    assert.deepEqual(
      pd.verses.map((v) => [v.name, v.trit, v.probability]),
      [
        ['nash', -1, '0.45'],
        ['optimal', 0, '0.35'],
        ['chaos', 1, '0.2'],
      ],
    );
    assert.equal(pd.gf3Sum, 0);
    for (const v of pd.verses) {
      assert.equal((await v.world.exec('len(universe)')).value, '10');
      assert.equal(v.world.metadata.verse, v.name);
    }
    const verses = await rt.ledger.verses();
    assert.deepEqual(
      verses
        .filter((v) => v.event === 'e1')
        .map((v) => v.id)
        .sort(),
      pd.verses.map((v) => v.verse).sort(),
    );
    await rt.record?.flush();
    const rows = await rt.record?.branches();
    const row = rows?.find((b) => b.branchType === 'push_down');
    assert.equal(row?.gf3Sum, 0);
    assert.equal(row?.parentEntityId, w.id);
    const types = new Set((await rt.record?.entities({ type: 'verse' }))?.map((e) => e.entityId));
    for (const v of pd.verses) assert.ok(types.has(v.world.id));
  }));

test('pullUp by a manual oracle collapses the losers, keeps the winner intact and records the WEV', () =>
  withRuntime(async (rt) => {
    const L = rt.ledger;
    await L.deposit('alice', 'usd', 100n);
    const w = await rt.create();
    const pd = await rt.pushDown(w, { event: 'e2' });
    await L.pushDown('e2', 'alice', 'usd', 40n);
    await rt.executeIn(pd.verses, (v) => `mine = ${JSON.stringify(v.name)}`);
    const tags = await Promise.all(pd.verses.map((v) => worldTag(v.world)));
    for (const [i, v] of pd.verses.entries()) assert.equal(processesIn(tags[i] as string).length, 1, `verse ${v.name} has one process`);
    const up = await rt.pullUp('e2', { outcome: 'optimal' });
    assert.equal(up.winner.name, 'optimal');
    assert.deepEqual(up.wev, { usd: 80n });
    assert.equal(up.oracleSource, 'manual');
    assert.deepEqual(up.collapsed.sort(), ['e2/chaos', 'e2/nash'].sort());
    const [nash, optimal, chaos] = pd.verses;
    assert.equal(nash?.world.state, 'collapsed');
    assert.equal(chaos?.world.state, 'collapsed');
    await assert.rejects(nash?.world.exec('1') ?? Promise.resolve(), { code: 'WRONG_STATE' });
    assert.equal((await optimal?.world.exec('mine'))?.value, "'optimal'");
    assert.equal(await L.balance('e2/optimal', 'alice', 'usd'), 40n);
    await L.pullUp('e2', 'alice', 'usd', 40n);
    assert.equal(await L.balance(L.root, 'alice', 'usd'), 100n);
    await assert.rejects(rt.pullUp('e2', { outcome: 'nash' }), /resolved/);
    await rt.record?.flush();
    const res = await rt.record?.resolutions();
    assert.equal(res?.[0]?.winningVerse, 'e2/optimal');
    assert.equal(res?.[0]?.wevExtracted, 80);
    assert.equal(res?.[0]?.oracleSource, 'manual');
    const states = new Map((await rt.record?.entities())?.map((e) => [e.entityId, e.state]));
    assert.equal(states.get(nash?.world.id as string), 'collapsed');
    assert.equal(states.get(optimal?.world.id as string), 'running');
    // The collapsed verses' processes are gone (a world's process works in its own directory); the winner's lives.
    await waitFor('the first collapsed verse world to end', () => processesIn(tags[0] as string).length === 0);
    await waitFor('the third collapsed verse world to end', () => processesIn(tags[2] as string).length === 0);
    assert.equal(processesIn(tags[1] as string).length, 1);
  }));

test('the score oracle picks the highest score, ties broken by name; a failing verse does not stop the others', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const pd = await rt.pushDown(w, { event: 'e3' });
    const results = await rt.executeIn(pd.verses, { nash: 'score = 5', optimal: 'score = 5', chaos: 'raise RuntimeError("boom")' });
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, false],
    );
    const up = await rt.pullUp('e3', { oracle: 'score', score: 'score' });
    assert.equal(up.winner.name, 'nash', 'tie between nash and optimal goes to the first name');
    assert.deepEqual(up.scores, { nash: 5, optimal: 5, chaos: null });
    assert.equal(up.oracleSource, 'score:score');
  }));

test('nested push-downs collapse whole subtrees', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const outer = await rt.pushDown(w, {
      event: 'outer',
      children: [
        { name: 'a', trit: 1, probability: '0.5' },
        { name: 'b', trit: -1, probability: '0.5' },
      ],
    });
    const a = outer.verses[0];
    assert.ok(a);
    const inner = await rt.pushDown(a.world, { event: 'inner' });
    assert.equal(inner.parentVerse, 'outer/a');
    const up = await rt.pullUp('outer', { outcome: 'b' });
    assert.deepEqual(new Set(up.collapsed), new Set(['outer/a', ...inner.verses.map((v) => v.verse)]));
    for (const v of inner.verses) assert.equal(v.world.state, 'collapsed');
    assert.equal(a.world.state, 'collapsed');
    assert.equal(outer.verses[1]?.world.state, 'running');
    await assert.rejects(rt.pullUp('inner', { outcome: 'nash' }), { code: 'LEDGER' });
  }));

test('bad push-downs change nothing', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const before = rt.worlds().length;
    await assert.rejects(
      rt.pushDown(w, {
        children: [
          { name: 'x', trit: 1, probability: '0.5' },
          { name: 'y', trit: 1, probability: '0.5' },
        ],
      }),
      { code: 'LEDGER' },
    );
    await assert.rejects(
      rt.pushDown(w, {
        children: [
          { name: 'x', trit: 1, probability: '0.6' },
          { name: 'y', trit: -1, probability: '0.5' },
        ],
      }),
      { code: 'LEDGER' },
    );
    assert.equal(rt.worlds().length, before);
    await rt.record?.flush();
    assert.equal((await rt.record?.entities({ type: 'verse' }))?.length, 0, 'a refused push-down starts no verse world');
    await assert.rejects(rt.pullUp('nope', { outcome: 'x' }), { code: 'LEDGER' });
    const pd = await rt.pushDown(w, { event: 'ok' });
    await assert.rejects(rt.pullUp('ok', { outcome: 'nobody' }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(rt.pullUp('ok', {}), { code: 'INVALID_ARGUMENT' });
    assert.equal(pd.verses.length, 3);
  }));
