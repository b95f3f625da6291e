/**
 * Snapshots and forks through the real SDKs against a real daemon: createSnapshot keeps the source
 * running and Sandbox.create(snapshotId) starts from its memory and files; fork ×3 gives three sandboxes
 * that start equal and diverge in memory and files; snapshots are listed, found by name, and deleted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Sandbox } from '@e2b/code-interpreter';
import { SandboxError, type SandboxOpts } from 'e2b';
import { removeHome, stopAll } from '../../server/helpers.js';
import { assertLoopbackOnly, type E2bDaemon, guardNetwork, startE2bDaemon } from './helpers.js';

describe('snapshots and forks through the SDKs', () => {
  let e: E2bDaemon;
  const made: Sandbox[] = [];

  before(async () => {
    guardNetwork();
    e = await startE2bDaemon();
  });
  after(async () => {
    await Promise.all(made.map((s) => s.kill()));
    assertLoopbackOnly();
    await stopAll();
    removeHome(e.d.home);
  });

  async function create(from?: string | SandboxOpts): Promise<Sandbox> {
    const s = typeof from === 'string' ? await Sandbox.create(from) : await Sandbox.create(from);
    made.push(s);
    return s;
  }

  it('createSnapshot keeps the source running; a sandbox created from it has its memory and files', async () => {
    const src = await create();
    await src.runCode('import random\nstate = [random.random() for _ in range(5)]\ncounter = 10');
    await src.files.write('data/state.json', '{"step": 1}');
    const expected = (await src.runCode('state')).text;
    const snap = await src.createSnapshot({ name: 'step-one' });
    assert.ok(snap.snapshotId);
    assert.deepEqual(snap.names, ['step-one:default']);
    // The source runs on and changes; the snapshot does not.
    assert.equal((await src.runCode('counter += 1; counter')).text, '11');
    await src.files.write('data/state.json', '{"step": 2}');

    for (const ref of [snap.snapshotId, 'step-one', 'step-one:default']) {
      const copy = await create(ref);
      assert.equal((await copy.runCode('state')).text, expected, `memory from ${ref}`);
      assert.equal((await copy.runCode('counter')).text, '10');
      assert.equal(await copy.files.read('data/state.json'), '{"step": 1}');
      assert.equal((await copy.getInfo()).templateId, snap.snapshotId);
    }
    const listed = await Sandbox.listSnapshots({ sandboxId: src.sandboxId }).nextItems();
    assert.deepEqual(
      listed.map((s) => s.snapshotId),
      [snap.snapshotId],
    );
    assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), true);
    assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), false);
    await assert.rejects(Sandbox.create(snap.snapshotId), SandboxError);
    assert.equal((await src.runCode('counter')).text, '11', 'the source is untouched by all of this');
  });

  it('fork ×3: the forks start equal to the source and diverge in memory and files', async () => {
    const src = await create({ metadata: { lineage: 'root' } });
    await src.runCode('import random\nshared = random.random()\nlog = ["root"]');
    await src.files.write('journal.txt', 'root\n');
    const forks = await src.fork({ count: 3 });
    assert.equal(forks.length, 3);
    const sandboxes = forks.map((f) => {
      assert.ok(f instanceof Sandbox, `a fork failed: ${(f as Error).message}`);
      made.push(f);
      return f;
    });
    assert.equal(new Set(sandboxes.map((s) => s.sandboxId)).size, 3);
    const shared = (await src.runCode('shared')).text;
    await Promise.all(
      sandboxes.map(async (s, i) => {
        assert.equal((await s.runCode('shared')).text, shared, 'memory came along');
        await s.runCode(`log.append("fork-${i}")`);
        await s.files.write('journal.txt', `root\nfork-${i}\n`);
        await s.commands.run(`echo ${i} > only-in-${i}.txt`);
      }),
    );
    for (const [i, s] of sandboxes.entries()) {
      assert.equal((await s.runCode('log')).text, `['root', 'fork-${i}']`);
      assert.equal(await s.files.read('journal.txt'), `root\nfork-${i}\n`);
      const names = (await s.files.list('.')).map((x) => x.name);
      assert.deepEqual(
        names.filter((n) => n.startsWith('only-in-')),
        [`only-in-${i}.txt`],
      );
      assert.deepEqual((await s.getInfo()).metadata, { lineage: 'root' });
    }
    assert.equal((await src.runCode('log')).text, "['root']", 'the source did not change');
    assert.equal(await src.files.read('journal.txt'), 'root\n');
    assert.equal((await src.commands.run('ls only-in-* 2>/dev/null | wc -l')).stdout, '0\n');
  });

  it('a sandbox that cannot be forked (a thread is running) answers an error per fork, and the SDK returns them', async () => {
    const src = await create();
    await src.runCode('import threading, time\nstop = threading.Event()\nthreading.Thread(target=stop.wait).start()');
    const results = await src.fork({ count: 2 });
    assert.equal(results.length, 2);
    for (const r of results) {
      assert.ok(r instanceof SandboxError && !(r instanceof Sandbox), `expected an error, got ${r}`);
      assert.match(r.message, /threads alive/);
    }
    const snap = await src.createSnapshot().then(
      () => null,
      (err: Error) => err,
    );
    assert.ok(snap instanceof SandboxError, String(snap));
    assert.equal(snap.statusCode, 409);
    await src.runCode('stop.set()');
    // Joined: the sandbox forks again.
    await src.runCode('import time\nwhile threading.active_count() > 1: time.sleep(0.01)');
    const [again] = await src.fork();
    assert.ok(again instanceof Sandbox);
    made.push(again);
  });

  it('a fork has its own access token: one sandbox token does not reach another sandbox', async () => {
    const src = await create();
    const [f] = await src.fork();
    assert.ok(f instanceof Sandbox);
    made.push(f);
    const stolen = await fetch(`${e.url}/health`, {
      headers: { 'E2b-Sandbox-Id': f.sandboxId, 'E2b-Sandbox-Port': '49983', 'X-Access-Token': (src as unknown as { envdAccessToken: string }).envdAccessToken },
    });
    assert.equal(stolen.status, 401);
    const own = await fetch(`${e.url}/health`, {
      headers: { 'E2b-Sandbox-Id': f.sandboxId, 'E2b-Sandbox-Port': '49983', 'X-Access-Token': (f as unknown as { envdAccessToken: string }).envdAccessToken },
    });
    assert.equal(own.status, 204);
  });
});
