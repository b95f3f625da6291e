/**
 * Verses and the ledger over HTTP, against a real daemon on its unix socket: push-down into the default nash/optimal/chaos triad,
 * code in several verses at once, ledger operations with bigint amounts as strings, pull-up by the manual
 * and score oracles (losers collapse: their worlds answer 409, their balances become the WEV), nested
 * push-downs collapsing whole subtrees, and every rejection with its status, changing nothing. Every JSON
 * answer is held to openapi.json.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, conforms, expectCall, removeHome, type Spawned, startDaemon, stopAll, type Target } from './helpers.js';

const MAX = '340282366920938463463374607431768211455'; // 2^128 - 1

describe('verses and the ledger over HTTP', () => {
  let d: Spawned;
  let t: Target;
  let world: string;
  let event: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked against openapi.json
  let verses: any[];

  before(async () => {
    d = await startDaemon({ args: ['--max-worlds', '12'] });
    t = { socket: d.socket };
  });
  after(async () => {
    await stopAll();
    removeHome(d.home);
  });

  /** A ledger read: every balance as `verse owner asset` → amount. */
  async function balances(): Promise<Record<string, string>> {
    const r = await expectCall(t, 'GET', '/v1/ledger/balances', '/v1/ledger/balances', 200);
    return Object.fromEntries(
      r.json.balances.map((b: { verse: string; owner: string; asset: string; amount: string }) => [`${b.verse} ${b.owner} ${b.asset}`, b.amount]),
    );
  }

  async function journalLength(): Promise<number> {
    return (await expectCall(t, 'GET', '/v1/ledger/journal', '/v1/ledger/journal', 200)).json.journal.length;
  }

  async function liveWorlds(): Promise<number> {
    return (await call(t, 'GET', '/v1/worlds')).json.worlds.length;
  }

  /** POST a ledger operation that must be refused with `status` and `reason`, and change nothing. */
  async function refused(path: string, body: unknown, status: number, reason: string | null, message?: RegExp): Promise<void> {
    const [before, seq] = [await balances(), await journalLength()];
    const r = await expectCall(t, 'POST', path, path, status, { json: body });
    if (reason === null) assert.equal(r.json.error.code, 'INVALID_ARGUMENT', r.text);
    else {
      assert.equal(r.json.error.code, 'LEDGER', r.text);
      assert.equal(r.json.error.details.reason, reason, r.text);
    }
    if (message) assert.match(r.json.error.message, message);
    assert.deepEqual(await balances(), before, `${path} ${JSON.stringify(body)} changed balances`);
    assert.equal(await journalLength(), seq, `${path} ${JSON.stringify(body)} was journaled`);
  }

  it('push-down splits a world into the default triad: one running world per verse, from one snapshot', async () => {
    world = (await call(t, 'POST', '/v1/worlds', { json: { metadata: { seed: 42 } } })).json.id;
    await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'import random\nrandom.seed(42)\nstate = [random.random() for _ in range(3)]' } });
    const r = await expectCall(t, 'POST', `/v1/worlds/${world}/push-down`, '/v1/worlds/{id}/push-down', 201, { json: {} });
    event = r.json.event;
    verses = r.json.verses;
    assert.match(event, /^e-/);
    assert.equal(r.json.parentVerse, 'root');
    assert.equal(r.json.gf3Sum, 0);
    assert.equal(r.json.snapshot.worldId, world);
    assert.equal(r.json.snapshot.name, `pre-${event}`);
    assert.deepEqual(
      verses.map((v) => [v.name, v.trit, v.probability, v.verse]),
      [
        ['nash', -1, '0.45', `${event}/nash`],
        ['optimal', 0, '0.35', `${event}/optimal`],
        ['chaos', 1, '0.2', `${event}/chaos`],
      ],
    );
    const original = (await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'state' } })).json.value;
    for (const v of verses) {
      assert.equal(v.world.state, 'running');
      assert.equal(v.world.parentId, world);
      assert.equal(v.world.snapshotId, r.json.snapshot.id);
      assert.equal(v.world.trit, v.trit);
      assert.deepEqual({ verse: v.world.metadata.verse, event: v.world.metadata.event, seed: v.world.metadata.seed }, { verse: v.name, event, seed: 42 });
      assert.equal((await call(t, 'POST', `/v1/worlds/${v.world.id}/exec`, { json: { code: 'state' } })).json.value, original);
    }

    const list = await expectCall(t, 'GET', '/v1/verses', '/v1/verses', 200);
    assert.deepEqual(
      list.json.events.map((e: { event: string; state: string }) => [e.event, e.state]),
      [[event, 'open']],
    );
    const one = await expectCall(t, 'GET', `/v1/verses/${event}`, '/v1/verses/{event}', 200);
    assert.deepEqual(
      { state: one.json.state, winner: one.json.winner, wev: one.json.wev, snapshotId: one.json.snapshotId, n: one.json.verses.length },
      { state: 'open', winner: null, wev: null, snapshotId: r.json.snapshot.id, n: 3 },
    );
    // The record has a push_down branch, the ledger a partition of the root.
    const branches = await expectCall(t, 'GET', '/v1/branches', '/v1/branches', 200);
    const pd = branches.json.branches.find((b: { branchType: string }) => b.branchType === 'push_down');
    assert.ok(pd, 'a push_down row in world_branches');
    assert.equal(pd.gf3Sum, 0);
    assert.deepEqual([...pd.childEntityIds].sort(), verses.map((v) => v.world.id).sort());
    const lv = await expectCall(t, 'GET', '/v1/ledger/verses', '/v1/ledger/verses', 200);
    const root = lv.json.verses.find((v: { id: string }) => v.id === 'root');
    assert.deepEqual(root.children, [`${event}/nash`, `${event}/optimal`, `${event}/chaos`]);
    const ev = await expectCall(t, 'GET', '/v1/ledger/events', '/v1/ledger/events', 200);
    assert.deepEqual(
      ev.json.events.map((e: { id: string; parent: string; resolved: boolean }) => [e.id, e.parent, e.resolved]),
      [[event, 'root', false]],
    );
  });

  it('runs code in several verses at once, by name or verse id, or one string in all', async () => {
    const r = await expectCall(t, 'POST', `/v1/verses/${event}/execute`, '/v1/verses/{event}/execute', 200, {
      json: { code: { nash: "strategy = 'selfish'; payoff = 1", optimal: "strategy = 'cooperative'; payoff = 3", [`${event}/chaos`]: '1/0' } },
    });
    assert.deepEqual(
      r.json.results.map((x: { name: string; ok: boolean; world: string }) => [x.name, x.ok, x.world]),
      verses.map((v) => [v.name, v.name !== 'chaos', v.world.id]),
    );
    assert.equal(r.json.results[2].result.error.type, 'ZeroDivisionError');
    await call(t, 'POST', `/v1/verses/${event}/execute`, { json: { code: { chaos: "strategy = 'random'; payoff = 2" } } });
    const all = await expectCall(t, 'POST', `/v1/verses/${event}/execute`, '/v1/verses/{event}/execute', 200, { json: { code: '(strategy, payoff)' } });
    assert.deepEqual(
      all.json.results.map((x: { result: { value: string } }) => x.result.value),
      ["('selfish', 1)", "('cooperative', 3)", "('random', 2)"],
    );
    const unknown = await expectCall(t, 'POST', `/v1/verses/${event}/execute`, '/v1/verses/{event}/execute', 400, { json: { code: { stoic: '1' } } });
    assert.match(unknown.json.error.message, /"stoic" is not a verse of this event \(verses: nash, optimal, chaos\)/);
    await expectCall(t, 'POST', `/v1/verses/${event}/execute`, '/v1/verses/{event}/execute', 400, { json: { code: {} } });
    await expectCall(t, 'POST', `/v1/verses/${event}/execute`, '/v1/verses/{event}/execute', 400, { json: { code: 42 } });
    const missing = await expectCall(t, 'POST', '/v1/verses/e-nope/execute', '/v1/verses/{event}/execute', 404, { json: { code: '1' } });
    assert.equal(missing.json.error.details.reason, 'UNKNOWN_EVENT');
    await expectCall(t, 'GET', '/v1/verses/e-nope', '/v1/verses/{event}', 404);
  });

  it('ledger operations: amounts as strings (or safe integers), balances follow the rules', async () => {
    const dep = await expectCall(t, 'POST', '/v1/ledger/deposit', '/v1/ledger/deposit', 200, { json: { owner: 'alice', asset: 'usd', amount: '100' } });
    assert.deepEqual(dep.json.args, { owner: 'alice', asset: 'usd', amount: '100' });
    assert.deepEqual(dep.json.balances, [{ verse: 'root', owner: 'alice', asset: 'usd', amount: '100' }]);
    await expectCall(t, 'POST', '/v1/ledger/deposit', '/v1/ledger/deposit', 200, { json: { owner: 'bob', asset: 'usd', amount: 20, verse: 'root' } });
    const big = await expectCall(t, 'POST', '/v1/ledger/deposit', '/v1/ledger/deposit', 200, { json: { owner: 'whale', asset: 'wei', amount: MAX } });
    assert.equal(big.json.balances[0].amount, MAX);
    await expectCall(t, 'POST', '/v1/ledger/withdraw', '/v1/ledger/withdraw', 200, { json: { owner: 'bob', asset: 'usd', amount: '0005' } });

    const pd = await expectCall(t, 'POST', '/v1/ledger/push-down', '/v1/ledger/push-down', 200, {
      json: { event, owner: 'alice', asset: 'usd', amount: '40' },
    });
    assert.deepEqual(
      pd.json.balances.map((b: { verse: string; amount: string }) => [b.verse, b.amount]),
      [
        ['root', '60'],
        [`${event}/nash`, '40'],
        [`${event}/optimal`, '40'],
        [`${event}/chaos`, '40'],
      ],
    );
    await expectCall(t, 'POST', '/v1/ledger/push-down', '/v1/ledger/push-down', 200, { json: { event, owner: 'bob', asset: 'usd', amount: '10' } });
    const tr = await expectCall(t, 'POST', '/v1/ledger/transfer', '/v1/ledger/transfer', 200, {
      json: { verse: `${event}/nash`, asset: 'usd', from: 'alice', to: 'bob', amount: '15' },
    });
    assert.deepEqual(
      tr.json.balances.map((b: { owner: string; amount: string }) => [b.owner, b.amount]),
      [
        ['alice', '25'],
        ['bob', '25'],
      ],
    );
    const b = await balances();
    assert.deepEqual(b, {
      'root alice usd': '60',
      'root bob usd': '5',
      'root whale wei': MAX,
      [`${event}/chaos alice usd`]: '40',
      [`${event}/chaos bob usd`]: '10',
      [`${event}/nash alice usd`]: '25',
      [`${event}/nash bob usd`]: '25',
      [`${event}/optimal alice usd`]: '40',
      [`${event}/optimal bob usd`]: '10',
    });
    const only = await expectCall(t, 'GET', `/v1/ledger/balances?verse=${encodeURIComponent(`${event}/nash`)}&owner=bob`, '/v1/ledger/balances', 200);
    assert.deepEqual(only.json.balances, [{ verse: `${event}/nash`, owner: 'bob', asset: 'usd', amount: '25' }]);
    const j = await expectCall(t, 'GET', '/v1/ledger/journal?limit=2', '/v1/ledger/journal', 200);
    assert.deepEqual(
      j.json.journal.map((e: { op: string }) => e.op),
      ['pushDown', 'transfer'],
    );
    assert.equal(j.json.journal[1].args.amount, '15');
    const check = await expectCall(t, 'GET', '/v1/ledger/check', '/v1/ledger/check', 200);
    assert.deepEqual({ ok: check.json.ok, problems: check.json.problems }, { ok: true, problems: [] });
  });

  it('refuses bad ledger operations with 400, 404 or 409, changing nothing', async () => {
    const dep = '/v1/ledger/deposit';
    // 400: not a whole number ≥ 0, zero, past 2^128 - 1, outside the root, malformed bodies
    await refused(dep, { owner: 'alice', asset: 'usd', amount: '1.5' }, 400, null, /body\.amount: expected a whole number/);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: 1.5 }, 400, null, /body\.amount: expected a string or an integer/);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: -3 }, 400, null, /body\.amount/);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: '-3' }, 400, null);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: '1e3' }, 400, null);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: 2 ** 60 }, 400, null, /send the amount as a decimal string/);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: '0' }, 400, 'INVALID_AMOUNT');
    await refused(dep, { owner: 'whale', asset: 'wei', amount: '1' }, 400, 'INVALID_AMOUNT', /would exceed 2\^128-1/);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: '1', verse: `${event}/nash` }, 400, 'ROOT_ONLY');
    await refused('/v1/ledger/withdraw', { owner: 'alice', asset: 'usd', amount: '1', verse: `${event}/nash` }, 400, 'ROOT_ONLY');
    await refused(dep, { owner: 'alice', asset: 'usd' }, 400, null, /body\.amount: required field missing/);
    await refused(dep, { owner: '', asset: 'usd', amount: '1' }, 400, null);
    await refused(dep, { owner: 'alice', asset: 'usd', amount: '1', memo: 'x' }, 400, null, /unknown field "memo"/);
    // 404: unknown verse or event
    await refused('/v1/ledger/transfer', { verse: 'nowhere', asset: 'usd', from: 'alice', to: 'bob', amount: '1' }, 404, 'UNKNOWN_VERSE');
    await refused('/v1/ledger/push-down', { event: 'e-nope', owner: 'alice', asset: 'usd', amount: '1' }, 404, 'UNKNOWN_EVENT');
    await refused('/v1/ledger/pull-up', { event: 'e-nope', owner: 'alice', asset: 'usd', amount: '1' }, 404, 'UNKNOWN_EVENT');
    // 409: not enough
    await refused(
      '/v1/ledger/withdraw',
      { owner: 'alice', asset: 'usd', amount: '61' },
      409,
      'INSUFFICIENT_BALANCE',
      /alice holds 60 usd in verse "root", needs 61/,
    );
    await refused('/v1/ledger/push-down', { event, owner: 'alice', asset: 'usd', amount: '61' }, 409, 'INSUFFICIENT_BALANCE');
    // alice holds 25 in nash, 40 in the others: pulling up 30 needs 30 in every child.
    await refused('/v1/ledger/pull-up', { event, owner: 'alice', asset: 'usd', amount: '30' }, 409, 'INSUFFICIENT_BALANCE');
    await refused('/v1/ledger/transfer', { verse: 'root', asset: 'usd', from: 'carol', to: 'bob', amount: '1' }, 409, 'INSUFFICIENT_BALANCE');
    await expectCall(t, 'GET', '/v1/ledger/journal?limit=0', '/v1/ledger/journal', 400);
    await expectCall(t, 'GET', '/v1/ledger/balances?colour=red', '/v1/ledger/balances', 400);
    // A pull-up within every child's balance works.
    const up = await expectCall(t, 'POST', '/v1/ledger/pull-up', '/v1/ledger/pull-up', 200, { json: { event, owner: 'alice', asset: 'usd', amount: '5' } });
    assert.equal(up.json.balances[0].amount, '65');
  });

  it('push-down rejections: bad partitions 400, duplicate event 409, unknown world 404, capacity 503; no world made', async () => {
    const live = await liveWorlds();
    const pd = (json: unknown, status: number, id = world) =>
      expectCall(t, 'POST', `/v1/worlds/${id}/push-down`, '/v1/worlds/{id}/push-down', status, { json });
    const two = (a: [number, string | number], b: [number, string | number]) => [
      { name: 'yes', trit: a[0], probability: a[1] },
      { name: 'no', trit: b[0], probability: b[1] },
    ];
    assert.equal((await pd({ children: two([1, '0.5'], [1, '0.5']) }, 400)).json.error.details.reason, 'GF3_UNBALANCED');
    assert.equal((await pd({ children: two([1, '0.5'], [-1, '0.6']) }, 400)).json.error.details.reason, 'BAD_PROBABILITIES');
    assert.equal((await pd({ children: two([1, '0.5'], [-1, 0.5]).map((c) => ({ ...c, name: 'same' })) }, 400)).json.error.details.reason, 'NOT_A_PARTITION');
    assert.equal((await pd({ event, children: two([1, '0.5'], [-1, '0.5']) }, 409)).json.error.details.reason, 'DUPLICATE_EVENT');
    assert.match((await pd({ children: [{ name: 'only', trit: 0, probability: '1' }] }, 400)).json.error.message, /body\.children: expected at least 2 items/);
    assert.match((await pd({ children: [{ name: 'a', trit: 2, probability: '1' }] }, 400)).json.error.message, /body\.children\[0\]\.trit/);
    await pd({ oracle: 'x' }, 400);
    assert.equal((await pd({}, 404, 'w-ffffffffffff')).json.error.code, 'WORLD_NOT_FOUND');
    const many = Array.from({ length: 12 }, (_, i) => ({ name: `c${i}`, trit: 0, probability: i === 0 ? '1' : '0' }));
    assert.equal((await pd({ children: many }, 503)).json.error.code, 'CAPACITY');
    assert.equal(await liveWorlds(), live, 'no world was started');
    // An unbalanced partition is accepted when asked for.
    const ok = await pd({ event: 'coin', children: two([1, '0.5'], [1, '0.5']), allowUnbalancedTrits: true, snapshotName: 'pre-coin' }, 201);
    assert.deepEqual([ok.json.event, ok.json.gf3Sum, ok.json.snapshot.name], ['coin', 2, 'pre-coin']);
    await call(t, 'POST', '/v1/verses/coin/pull-up', { json: { outcome: 'yes' } });
  });

  it('pull-up by score: the winner stays, the losers collapse (409 afterwards), their balances are the WEV', async () => {
    const [nash, optimal, chaos] = verses.map((v) => v.world.id as string);
    const bad = await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 400, { json: {} });
    assert.match(bad.json.error.message, /manual oracle needs `outcome`/);
    await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 400, { json: { outcome: 'nash', score: 'payoff' } });
    await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 400, { json: { outcome: 'stoic' } });
    await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 400, { json: { oracle: 'vote', score: 'payoff' } });
    await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 400, { json: { oracle: 'score' } });
    const none = await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 409, { json: { score: 'undefined_name' } });
    assert.equal(none.json.error.details.reason, 'NO_SCORE');
    await expectCall(t, 'POST', '/v1/verses/e-nope/pull-up', '/v1/verses/{event}/pull-up', 404, { json: { outcome: 'nash' } });
    assert.equal((await call(t, 'GET', `/v1/verses/${event}`)).json.state, 'open', 'the refused pull-ups changed nothing');

    const r = await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 200, { json: { oracle: 'score', score: 'payoff' } });
    assert.equal(r.json.winner.name, 'optimal');
    assert.equal(r.json.winner.world.id, optimal);
    assert.equal(r.json.winner.world.state, 'running');
    assert.deepEqual(r.json.scores, { nash: 1, optimal: 3, chaos: 2 });
    assert.equal(r.json.oracleSource, 'score:payoff');
    assert.deepEqual([...r.json.collapsed].sort(), [`${event}/chaos`, `${event}/nash`]);
    assert.deepEqual([...r.json.collapsedWorlds].sort(), [nash, chaos].sort());
    // Evaporated: alice 20 (nash) + 35 (chaos), bob 25 (nash) + 10 (chaos).
    assert.deepEqual(r.json.wev, { usd: '90' });
    assert.equal(typeof r.json.pullUpTimeMs, 'number');

    // The losers' worlds are collapsed: exec answers 409 naming the state; the winner keeps its state.
    for (const id of [nash, chaos]) {
      const ex = await expectCall(t, 'POST', `/v1/worlds/${id}/exec`, '/v1/worlds/{id}/exec', 409, { json: { code: '1' } });
      assert.equal(ex.json.error.code, 'WRONG_STATE');
      assert.equal(ex.json.error.details.current, 'collapsed');
      assert.match(ex.json.error.message, /it is collapsed \(needs running\)/);
      assert.equal((await expectCall(t, 'GET', `/v1/worlds/${id}`, '/v1/worlds/{id}', 200)).json.state, 'collapsed');
      await expectCall(t, 'POST', `/v1/worlds/${id}/push-down`, '/v1/worlds/{id}/push-down', 409, { json: {} });
    }
    assert.equal((await call(t, 'POST', `/v1/worlds/${optimal}/exec`, { json: { code: 'strategy' } })).json.value, "'cooperative'");
    const ex = await expectCall(t, 'POST', `/v1/verses/${event}/execute`, '/v1/verses/{event}/execute', 200, { json: { code: 'payoff' } });
    assert.deepEqual(
      ex.json.results.map((x: { name: string; ok: boolean }) => [x.name, x.ok]),
      [
        ['nash', false],
        ['optimal', true],
        ['chaos', false],
      ],
    );
    assert.match(ex.json.results[0].error, /collapsed/);

    const after = await expectCall(t, 'GET', `/v1/verses/${event}`, '/v1/verses/{event}', 200);
    assert.deepEqual(
      {
        state: after.json.state,
        winner: after.json.winner,
        wev: after.json.wev,
        worlds: after.json.verses.map((v: { world: { state: string } }) => v.world.state),
      },
      { state: 'resolved', winner: `${event}/optimal`, wev: { usd: '90' }, worlds: ['collapsed', 'running', 'collapsed'] },
    );
    const res = await expectCall(t, 'GET', '/v1/resolutions', '/v1/resolutions', 200);
    const row = res.json.resolutions.find((x: { winningVerse: string }) => x.winningVerse === `${event}/optimal`);
    assert.ok(row, 'a verse_resolutions row');
    assert.equal(row.wevExtracted, 90);
    assert.equal(row.oracleSource, 'score:payoff');

    // After resolution: no second pull-up, no push-down into the event, nothing in a collapsed verse; pulling up
    // from the winner alone is allowed.
    assert.equal(
      (await expectCall(t, 'POST', `/v1/verses/${event}/pull-up`, '/v1/verses/{event}/pull-up', 409, { json: { outcome: 'nash' } })).json.error.details.reason,
      'EVENT_RESOLVED',
    );
    await refused('/v1/ledger/push-down', { event, owner: 'alice', asset: 'usd', amount: '1' }, 409, 'EVENT_RESOLVED');
    await refused('/v1/ledger/transfer', { verse: `${event}/nash`, asset: 'usd', from: 'alice', to: 'bob', amount: '1' }, 409, 'COLLAPSED_VERSE');
    const up = await expectCall(t, 'POST', '/v1/ledger/pull-up', '/v1/ledger/pull-up', 200, { json: { event, owner: 'alice', asset: 'usd', amount: '35' } });
    assert.deepEqual(
      up.json.balances.map((b: { verse: string; amount: string }) => [b.verse, b.amount]),
      [
        ['root', '100'],
        [`${event}/nash`, '0'],
        [`${event}/optimal`, '0'],
        [`${event}/chaos`, '0'],
      ],
    );
    assert.equal((await call(t, 'GET', '/v1/ledger/check')).json.ok, true);
  });

  it('a nested push-down collapses with its parent verse: the whole subtree goes', async () => {
    const w2 = (await call(t, 'POST', '/v1/worlds', { json: {} })).json.id;
    const outer = await expectCall(t, 'POST', `/v1/worlds/${w2}/push-down`, '/v1/worlds/{id}/push-down', 201, { json: { event: 'outer' } });
    const nashWorld = outer.json.verses[0].world.id;
    const inner = await expectCall(t, 'POST', `/v1/worlds/${nashWorld}/push-down`, '/v1/worlds/{id}/push-down', 201, {
      json: {
        event: 'outer inner',
        children: [
          { name: 'yes', trit: 1, probability: 0.25 },
          { name: 'no', trit: -1, probability: '0.75' },
        ],
      },
    });
    assert.equal(inner.json.parentVerse, 'outer/nash');
    const innerWorlds = inner.json.verses.map((v: { world: { id: string } }) => v.world.id);
    await expectCall(t, 'POST', '/v1/ledger/deposit', '/v1/ledger/deposit', 200, { json: { owner: 'carol', asset: 'eth', amount: '9' } });
    await call(t, 'POST', '/v1/ledger/push-down', { json: { event: 'outer', owner: 'carol', asset: 'eth', amount: '9' } });
    await call(t, 'POST', '/v1/ledger/push-down', { json: { event: 'outer inner', owner: 'carol', asset: 'eth', amount: '4' } });
    const listed = await expectCall(t, 'GET', '/v1/verses', '/v1/verses', 200);
    assert.deepEqual(
      listed.json.events.map((e: { event: string; state: string }) => [e.event, e.state]),
      [
        [event, 'resolved'],
        ['coin', 'resolved'],
        ['outer', 'open'],
        ['outer inner', 'open'],
      ],
    );

    const r = await expectCall(t, 'POST', '/v1/verses/outer/pull-up', '/v1/verses/{event}/pull-up', 200, { json: { outcome: 'optimal' } });
    assert.equal(r.json.oracleSource, 'manual');
    assert.equal(r.json.scores, null);
    assert.deepEqual([...r.json.collapsed].sort(), ['outer inner/no', 'outer inner/yes', 'outer/chaos', 'outer/nash']);
    assert.deepEqual([...r.json.collapsedWorlds].sort(), [nashWorld, outer.json.verses[2].world.id, ...innerWorlds].sort());
    // carol: 9 in chaos, 5 in outer/nash, 4 in each inner child.
    assert.deepEqual(r.json.wev, { eth: '22' });
    const innerAfter = await expectCall(t, 'GET', `/v1/verses/${encodeURIComponent('outer inner')}`, '/v1/verses/{event}', 200);
    assert.equal(innerAfter.json.state, 'collapsed');
    const again = await expectCall(t, 'POST', `/v1/verses/${encodeURIComponent('outer inner')}/pull-up`, '/v1/verses/{event}/pull-up', 409, {
      json: { outcome: 'yes' },
    });
    assert.equal(again.json.error.details.reason, 'COLLAPSED_VERSE');
    for (const id of innerWorlds) assert.equal((await call(t, 'POST', `/v1/worlds/${id}/exec`, { json: { code: '1' } })).status, 409);
    const c = await call(t, 'GET', '/v1/ledger/check');
    conforms(c, 'GET', '/v1/ledger/check');
    assert.equal(c.json.ok, true);
  });
});
