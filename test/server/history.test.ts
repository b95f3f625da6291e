/**
 * History survives restarts: a daemon started on yesterday's home answers GET /v1/verses and
 * /v1/verses/{event} for yesterday's push-downs (200, `live: false`), from the ledger and the record, beside
 * its own live ones, after a clean stop and after a SIGKILL alike.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { call, expectCall, removeHome, startDaemon, stopAll, stopDaemon, tempHome } from './helpers.js';

describe('push-down events after a restart', () => {
  const home = tempHome();
  after(async () => {
    await stopAll();
    removeHome(home);
  });

  it("a restarted daemon answers 200 for yesterday's event, not live, with its winner, WEV and recorded worlds", async () => {
    let d = await startDaemon({ home });
    let t = { socket: d.socket };
    const w = (await expectCall(t, 'POST', '/v1/worlds', '/v1/worlds', 201, { json: {} })).json;
    await expectCall(t, 'POST', '/v1/ledger/deposit', '/v1/ledger/deposit', 200, { json: { owner: 'alice', asset: 'usd', amount: '100' } });
    const pd = (
      await expectCall(t, 'POST', `/v1/worlds/${w.id}/push-down`, '/v1/worlds/{id}/push-down', 201, { json: { event: 'yesterday' } })
    ).json;
    await expectCall(t, 'POST', '/v1/ledger/push-down', '/v1/ledger/push-down', 200, { json: { event: 'yesterday', owner: 'alice', asset: 'usd', amount: '40' } });
    await expectCall(t, 'POST', '/v1/verses/yesterday/pull-up', '/v1/verses/{event}/pull-up', 200, { json: { outcome: 'optimal' } });
    // A second event still open when the daemon is killed: its worlds are lost, not closed.
    await expectCall(t, 'POST', `/v1/worlds/${w.id}/push-down`, '/v1/worlds/{id}/push-down', 201, { json: { event: 'killed' } });
    const before = (await expectCall(t, 'GET', '/v1/verses/yesterday', '/v1/verses/{event}', 200)).json;
    assert.equal(before.live, true);
    // The record writes behind (within a second); a read flushes it, so the SIGKILL loses none of these rows.
    await expectCall(t, 'GET', '/v1/entities', '/v1/entities', 200);

    assert.equal((await stopDaemon(d, 'SIGKILL')).signal, 'SIGKILL');
    d = await startDaemon({ home });
    t = { socket: d.socket };
    const y = (await expectCall(t, 'GET', '/v1/verses/yesterday', '/v1/verses/{event}', 200)).json;
    assert.equal(y.live, false);
    assert.equal(y.state, 'resolved');
    assert.equal(y.winner, 'yesterday/optimal');
    assert.deepEqual(y.wev, { usd: '80' });
    assert.equal(y.snapshotId, pd.snapshot.id);
    assert.deepEqual(
      // biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked against openapi.json
      y.verses.map((v: any) => [v.name, v.trit, v.probability, v.world.id, v.world.state]),
      // biome-ignore lint/suspicious/noExplicitAny: parsed JSON
      pd.verses.map((v: any) => [v.name, v.trit, v.probability, v.world.id, v.name === 'optimal' ? 'destroyed' : 'collapsed']),
    );
    const killed = (await expectCall(t, 'GET', '/v1/verses/killed', '/v1/verses/{event}', 200)).json;
    assert.deepEqual([killed.live, killed.state], [false, 'open']);
    // biome-ignore lint/suspicious/noExplicitAny: parsed JSON
    assert.ok(killed.verses.every((v: any) => v.world.state === 'destroyed'), 'worlds the SIGKILL took read as destroyed');

    // The new daemon's own push-down is live beside them; only a live event can still be resolved.
    const w2 = (await expectCall(t, 'POST', '/v1/worlds', '/v1/worlds', 201, { json: {} })).json;
    await expectCall(t, 'POST', `/v1/worlds/${w2.id}/push-down`, '/v1/worlds/{id}/push-down', 201, { json: { event: 'today' } });
    const list = (await expectCall(t, 'GET', '/v1/verses', '/v1/verses', 200)).json;
    assert.deepEqual(
      // biome-ignore lint/suspicious/noExplicitAny: parsed JSON
      list.events.map((e: any) => [e.event, e.live]),
      [
        ['yesterday', false],
        ['killed', false],
        ['today', true],
      ],
    );
    assert.equal((await call(t, 'POST', '/v1/verses/killed/pull-up', { json: { outcome: 'nash' } })).status, 404);
    await expectCall(t, 'GET', '/v1/verses/never', '/v1/verses/{event}', 404);

    // A clean stop keeps it all too.
    await stopDaemon(d);
    d = await startDaemon({ home });
    const again = (await expectCall({ socket: d.socket }, 'GET', '/v1/verses', '/v1/verses', 200)).json;
    // biome-ignore lint/suspicious/noExplicitAny: parsed JSON
    assert.deepEqual(again.events.map((e: any) => e.live), [false, false, false]);
  });
});
