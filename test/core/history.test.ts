/**
 * Events outlive the runtime that made them: a runtime opened later on the same home lists them from the
 * ledger and the record, not live, with their worlds as the record last saw them. And `onChange` reports
 * what happens, as it happens.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { LedgerError, type RuntimeChange, WorldRuntime } from '../../src/index.js';
import { tempHome, withRuntime } from '../fixtures/runtime.js';

test('a runtime opened on the same home reads the events of the one before, not live, with their recorded worlds', async (t) => {
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const first = await WorldRuntime.open({ home, warn: () => {} });
  let source: string;
  let snapshot: string;
  let winnerWorld: string;
  let loserWorlds: string[];
  try {
    const w = await first.create();
    source = w.id;
    await first.ledger.deposit('alice', 'usd', 100n);
    const pd = await first.pushDown(w, { event: 'yesterday' });
    snapshot = pd.snapshot.id;
    await first.ledger.pushDown('yesterday', 'alice', 'usd', 40n);
    await first.pullUp('yesterday', { outcome: 'optimal' });
    winnerWorld = pd.verses.find((v) => v.name === 'optimal')?.world.id as string;
    loserWorlds = pd.verses.filter((v) => v.name !== 'optimal').map((v) => v.world.id);
    await first.pushDown(w, { event: 'still-open' });
    const live = await first.events();
    assert.deepEqual(
      live.map((e) => [e.event, e.live, e.state]),
      [
        ['yesterday', true, 'resolved'],
        ['still-open', true, 'open'],
      ],
    );
    assert.ok(live[1]?.verses.every((v) => v.world?.state === 'running' && v.recorded === null));
  } finally {
    await first.close();
  }

  const second = await WorldRuntime.open({ home, warn: () => {} });
  try {
    const events = await second.events();
    assert.deepEqual(
      events.map((e) => [e.event, e.live, e.state]),
      [
        ['yesterday', false, 'resolved'],
        ['still-open', false, 'open'],
      ],
    );
    const y = await second.event('yesterday');
    assert.equal(y.winner, 'yesterday/optimal');
    assert.deepEqual(y.wev, { usd: 80n });
    assert.equal(y.sourceWorldId, source);
    assert.equal(y.snapshotId, snapshot);
    assert.deepEqual(
      y.verses.map((v) => [v.name, v.trit, v.probability, v.collapsed, v.outcome, v.world, v.recorded?.state]),
      [
        ['nash', -1, '0.45', true, false, null, 'collapsed'],
        ['optimal', 0, '0.35', false, true, null, 'destroyed'],
        ['chaos', 1, '0.2', true, false, null, 'collapsed'],
      ],
    );
    assert.equal(y.verses[1]?.recorded?.id, winnerWorld);
    assert.deepEqual(
      y.verses.filter((v) => v.collapsed).map((v) => v.recorded?.id),
      loserWorlds,
    );
    assert.equal(y.verses[0]?.recorded?.diskMib, 4096);
    assert.equal(y.verses[0]?.recorded?.parentId, source);
    // A new push-down in the new runtime is live beside the old ones.
    const w2 = await second.create();
    await second.pushDown(w2, { event: 'today' });
    assert.deepEqual(
      (await second.events()).map((e) => [e.event, e.live]),
      [
        ['yesterday', false],
        ['still-open', false],
        ['today', true],
      ],
    );
    await assert.rejects(second.event('never'), (err: unknown) => err instanceof LedgerError && err.details?.reason === 'UNKNOWN_EVENT');
  } finally {
    await second.close();
  }
});

test('onChange reports worlds, snapshots, push-downs, pull-ups, execs and ledger operations as they happen', () =>
  withRuntime(async (rt) => {
    // Worlds and snapshots are live objects: keep the state each change reported, as a listener would use it.
    const seen: { c: RuntimeChange; state: string }[] = [];
    const stop = rt.onChange((c) => seen.push({ c, state: c.type === 'world' ? c.world.state : c.type === 'snapshot' ? c.snapshot.state : '' }));
    rt.onChange(() => {
      throw new Error('a listener that throws is skipped');
    });
    const w = await rt.create();
    await w.exec('x = 1');
    const s = await w.snapshot('s');
    const [b] = await rt.branch(s, 1);
    await rt.ledger.deposit('alice', 'usd', 10n);
    const pd = await rt.pushDown(w, { event: 'e' });
    await rt.pullUp('e', { outcome: 'nash' });
    await b?.destroy();
    const label = ({ c, state }: { c: RuntimeChange; state: string }): string => {
      switch (c.type) {
        case 'world':
          return `world ${c.world.id === w.id ? 'w' : c.world.id === b?.id ? 'b' : (pd.verses.find((v) => v.world.id === c.world.id)?.name ?? '?')} ${state}`;
        case 'snapshot':
          return `snapshot ${c.snapshot.id === s.id ? 's' : 'pre'} ${state}`;
        case 'exec':
          return `exec ${c.code}`;
        case 'ledger':
          return `ledger ${c.op.op} ${c.op.balances.map((x) => `${x.verse}=${x.amount}`).join(',')}`;
        default:
          return c.type;
      }
    };
    const labels = seen.map(label);
    for (const want of [
      'world w running',
      'exec x = 1',
      'snapshot s ready',
      'world b running',
      'ledger deposit root=10',
      'snapshot pre ready',
      'world nash running',
      'pushDown',
      'world optimal collapsed',
      'world chaos collapsed',
      'pullUp',
      'world b destroyed',
    ]) {
      assert.ok(labels.includes(want), `${want} missing from ${labels.join(' | ')}`);
    }
    assert.ok(labels.indexOf('world nash running') < labels.indexOf('pushDown'));
    assert.ok(labels.indexOf('world chaos collapsed') < labels.indexOf('pullUp'));
    stop();
    await w.exec('y = 2');
    assert.ok(!seen.some(({ c }) => c.type === 'exec' && c.code === 'y = 2'), 'a stopped listener hears nothing more');
  }));
