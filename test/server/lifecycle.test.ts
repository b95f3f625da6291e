/**
 * The daemon's life: one daemon per home, SIGTERM shuts down cleanly (no world process left, socket and pid
 * file gone, record flushed), and after a SIGKILL mid-work the next start finds no orphan, marks the worlds
 * that were running as `lost`, and opens the database intact.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { noProcessesLeft, processesMentioning, processesWith } from '../fixtures/runtime.js';
import { waitFor } from '../fixtures/wait.js';
import { call, MAIN, removeHome, startDaemon, stopAll, stopDaemon, type Target, tempHome } from './helpers.js';

const homes: string[] = [];

after(async () => {
  await stopAll();
  for (const h of homes) removeHome(h);
});

async function worlds(t: Target, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await call(t, 'POST', '/v1/worlds', { json: {} })).json.id);
  return ids;
}

describe('daemon lifecycle', () => {
  it('serves a home once: a second daemon is refused with HOME_LOCKED', async () => {
    const d = await startDaemon();
    homes.push(d.home);
    const r = spawnSync(process.execPath, [MAIN, 'serve', '--home', d.home], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /world-runtime: error: .*in use by .*\[HOME_LOCKED\]/);
    // The first one is untouched.
    assert.equal((await call({ socket: d.socket }, 'GET', '/v1/health')).json.pid, d.pid);
    await stopDaemon(d);
  });

  it('SIGTERM: worlds destroyed, no world process left, socket and pid file removed, rows flushed', async () => {
    const d = await startDaemon();
    homes.push(d.home);
    const t = { socket: d.socket };
    const ids = await worlds(t, 2);
    const snap = (await call(t, 'POST', `/v1/worlds/${ids[0]}/snapshots`, { json: {} })).json.id;
    await call(t, 'POST', `/v1/snapshots/${snap}/branch`, { json: { count: 2 } });
    assert.ok(processesMentioning(d.home, [d.pid]).length > 0, 'worlds run as processes that name the home');

    const { code, signal } = await stopDaemon(d, 'SIGTERM');
    assert.equal(code, 0, d.output());
    assert.equal(signal, null);
    assert.match(d.output(), /SIGTERM: shutting down\nstopped/);
    await noProcessesLeft(d.home, 3000);
    assert.equal(existsSync(d.socket), false);
    assert.equal(existsSync(`${d.home}/daemon.pid`), false);

    // The record saw every world end.
    const again = await startDaemon({ home: d.home });
    const entities = (await call({ socket: again.socket }, 'GET', '/v1/entities')).json.entities as { entityId: string; state: string }[];
    for (const id of ids) assert.equal(entities.find((e) => e.entityId === id)?.state, 'destroyed');
    assert.equal(entities.filter((e) => e.state === 'running' || e.state === 'lost').length, 0);
    await stopDaemon(again);
  });

  it('SIGKILL mid-work, then restart: no orphan, running worlds marked lost, database intact', async () => {
    const d = await startDaemon();
    homes.push(d.home);
    const t = { socket: d.socket };
    const ids = await worlds(t, 2);
    const snap = (await call(t, 'POST', `/v1/worlds/${ids[0]}/snapshots`, { json: {} })).json.id;
    const branched = (await call(t, 'POST', `/v1/snapshots/${snap}/branch`, { json: { count: 2, trits: [-1, 1] } })).json.worlds.map(
      (w: { id: string }) => w.id,
    );
    // Reads flush the write-behind record: the rows are on disk before the crash.
    const before = (await call(t, 'GET', '/v1/entities?state=running')).json.entities.map((e: { entityId: string }) => e.entityId);
    for (const id of [...ids, ...branched]) assert.ok(before.includes(id), `${id} recorded as running`);

    // Work in flight when the daemon dies: a long exec (seen running once the process it starts is up) and a branch.
    const marker = `in-flight-${randomBytes(6).toString('hex')}`;
    const code = `import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', '${marker}'])\nwhile True: time.sleep(0.05)`;
    const inflight = [
      call(t, 'POST', `/v1/worlds/${ids[1]}/exec`, { json: { code } }).catch((e: Error) => e),
      call(t, 'POST', `/v1/worlds/${ids[0]}/branch`, { json: { count: 3 } }).catch((e: Error) => e),
    ];
    await waitFor('the in-flight exec to be running', () => processesWith([marker]).length > 0);
    const { signal } = await stopDaemon(d, 'SIGKILL');
    assert.equal(signal, 'SIGKILL');
    await Promise.all(inflight);

    await noProcessesLeft(d.home, 8000);
    await waitFor(() => `the in-flight exec's process to end with its daemon: ${JSON.stringify(processesWith([marker]))}`, () => processesWith([marker]).length === 0, 8000);

    const again = await startDaemon({ home: d.home });
    const t2 = { socket: again.socket };
    const lost = (await call(t2, 'GET', '/v1/entities?state=lost')).json.entities.map((e: { entityId: string }) => e.entityId) as string[];
    for (const id of [...ids, ...branched]) assert.ok(lost.includes(id), `${id} marked lost (lost: ${lost.join(', ')})`);
    assert.equal((await call(t2, 'GET', '/v1/entities?state=running')).json.entities.length, 0);
    // The lost worlds are not live in the new daemon; the database takes new work.
    assert.equal((await call(t2, 'POST', `/v1/worlds/${ids[0]}/exec`, { json: { code: '1' } })).status, 404);
    const w = (await call(t2, 'POST', '/v1/worlds', { json: {} })).json.id;
    assert.equal((await call(t2, 'POST', `/v1/worlds/${w}/exec`, { json: { code: '2 + 2' } })).json.value, '4');
    const branches = (await call(t2, 'GET', '/v1/branches')).json.branches;
    assert.ok(branches.length >= 1);
    await stopDaemon(again);
    await noProcessesLeft(d.home, 3000);
  });

  it('a stale pid file and socket from a crash do not block the next start', async () => {
    const home = tempHome();
    homes.push(home);
    const d = await startDaemon({ home });
    await stopDaemon(d, 'SIGKILL');
    assert.ok(existsSync(`${home}/daemon.pid`));
    assert.ok(existsSync(`${home}/daemon.sock`));
    const again = await startDaemon({ home });
    assert.equal((await call({ socket: again.socket }, 'GET', '/v1/health')).json.pid, again.pid);
    await stopDaemon(again);
  });
});
