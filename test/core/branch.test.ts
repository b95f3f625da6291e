import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProcessDriver } from '../../src/drivers/process/driver.js';
import { withRuntime } from '../fixtures/runtime.js';
import { waitFor } from '../fixtures/wait.js';

test('branches start with the memory and files of the snapshot and then diverge independently', () =>
  withRuntime(async (rt) => {
    const src = await rt.create({ trit: 1, metadata: { who: 'source' } });
    await src.exec('state = {"n": 1}\nopen("f.txt", "w").write("v1")');
    const snap = await src.snapshot('pre-event');
    assert.equal(snap.name, 'pre-event');
    assert.equal(snap.worldId, src.id);
    await src.exec('state["n"] = 100\nopen("f.txt", "w").write("source-after")');

    const [a, b] = await rt.branch(snap, 2, { trits: [-1, 1], metadata: { strategy: 'x' } });
    assert.ok(a && b);
    assert.equal(a.parentId, src.id);
    assert.equal(a.snapshotId, snap.id);
    assert.equal(a.trit, -1);
    assert.equal(b.trit, 1);
    assert.deepEqual(a.metadata, { strategy: 'x' });
    for (const w of [a, b]) {
      assert.equal((await w.exec('state["n"]')).value, '1');
      assert.equal(Buffer.from(await w.readFile('f.txt')).toString(), 'v1');
    }
    await a.exec('state["n"] = 2\nopen("f.txt", "w").write("a")');
    await b.exec('state["n"] = 3\nopen("f.txt", "w").write("b")');
    assert.equal((await a.exec('state["n"]')).value, '2');
    assert.equal((await b.exec('state["n"]')).value, '3');
    assert.equal((await src.exec('state["n"]')).value, '100');
    assert.equal(Buffer.from(await a.readFile('f.txt')).toString(), 'a');
    assert.equal(Buffer.from(await b.readFile('f.txt')).toString(), 'b');
    assert.equal(Buffer.from(await src.readFile('f.txt')).toString(), 'source-after');

    // A later branch of the same snapshot still sees the frozen state.
    const [c] = await rt.branch(snap, 1);
    assert.equal((await c?.exec('state["n"]'))?.value, '1');
    assert.equal(Buffer.from((await c?.readFile('f.txt')) ?? []).toString(), 'v1');
  }));

test('a running world can be branched directly', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('counter = 10');
    const kids = await rt.branch(w, 3);
    assert.equal(kids.length, 3);
    for (const [i, k] of kids.entries()) {
      assert.equal(k.parentId, w.id);
      assert.equal(k.snapshotId, null);
      await k.exec(`counter += ${i}`);
    }
    assert.deepEqual(await Promise.all(kids.map(async (k) => (await k.exec('counter')).value)), ['10', '11', '12']);
    assert.equal((await w.exec('counter')).value, '10');
  }));

test('branches are reseeded unless identical random streams are asked for', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('import random\nrandom.seed(1234)');
    const snap = await w.snapshot();
    const fresh = await rt.branch(snap, 3);
    const draws = await Promise.all(fresh.map(async (k) => (await k.exec('random.random()')).value));
    assert.equal(new Set(draws).size, 3, `reseeded branches drew ${draws}`);
    const same = await rt.branch(snap, 3, { sameRandom: true });
    const sameDraws = await Promise.all(same.map(async (k) => (await k.exec('random.random()')).value));
    assert.equal(new Set(sameDraws).size, 1, `identical streams drew ${sameDraws}`);
  }));

test('pending writes are flushed before a fork, so no branch writes them twice', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('log = open("log.txt", "w")\nlog.write("before\\n")');
    const [k] = await rt.branch(w, 1);
    await k?.exec('log.close()');
    await w.exec('log.close()');
    assert.equal(Buffer.from(await w.readFile('log.txt')).toString(), 'before\n');
  }));

test('fork is refused while another thread is alive, and allowed once it ends', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('import threading, time\nt = threading.Thread(target=time.sleep, args=(1.5,))\nt.start()');
    await assert.rejects(w.snapshot(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'FORK_REFUSED');
      assert.match(err.message, /threads alive/);
      return true;
    });
    await assert.rejects(rt.branch(w, 1), { code: 'FORK_REFUSED' });
    await w.exec('t.join()');
    const s = await w.snapshot();
    assert.equal((await rt.branch(s, 1)).length, 1);
  }));

test('the heap is frozen before fork, and forked children are reaped (no zombies)', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('data = [str(i) for i in range(1000)]');
    const s = await w.snapshot();
    const kids = await rt.branch(w, 4);
    const [k] = await rt.branch(s, 1);
    assert.ok(Number((await k?.exec('import gc; gc.get_freeze_count()'))?.value) > 1000);
    await Promise.all(kids.map((x) => x.destroy()));
    await s.destroy();
    const zombies = await w.exec(
      'import os\nme = os.getpid()\nz = 0\nfor p in os.listdir("/proc"):\n    if p.isdigit():\n        try:\n            st = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()\n        except OSError:\n            continue\n        if int(st[1]) == me and st[0] == "Z":\n            z += 1\nz',
    );
    assert.equal(zombies.value, '0');
  }));

test('a branch that takes a ready spare starts from the snapshot, reseeded, with the source\u2019s limits', () =>
  withRuntime(async (rt) => {
    const w = await rt.create({ memoryMib: 256 });
    await w.exec('import random\nv = 7\nbig = None');
    const s = await w.snapshot();
    const driver = rt.driver as ProcessDriver;
    await waitFor('the snapshot to have its two spares', () => driver.poolState(s.handle).readyBranches === 2);
    const [a, b] = await rt.branch(s, 2);
    assert.equal(driver.poolState(s.handle).readyBranches, 0, 'both came from the spares');
    assert.equal((await a?.exec('v'))?.value, '7');
    assert.notEqual((await a?.exec('random.random()'))?.value, (await b?.exec('random.random()'))?.value);
    assert.equal(a?.memoryMib, 256);
    // The source's address-space limit holds in the spare too.
    assert.equal((await a?.exec('big = bytearray(512 << 20)'))?.error?.type, 'MemoryError');
    await waitFor('the snapshot to refill its two spares', () => driver.poolState(s.handle).readyBranches === 2);
  }));

test('branching many at once from a snapshot with and without spares', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('v = 5');
    const s = await w.snapshot();
    const many = await rt.branch(s, 12);
    assert.equal(new Set(many.map((m) => m.id)).size, 12);
    const values = await Promise.all(many.map(async (m) => (await m.exec('v')).value));
    assert.deepEqual(values, new Array(12).fill('5'));
    assert.equal(rt.worlds().length, 13);
  }));
