/**
 * The E2B control plane through the real `e2b` SDK against a real daemon: create, list by metadata and
 * state, info, timeout (extended, and expiring), connect, pause and resume, metrics, kill; the SDK's own
 * error classes for a bad API key, an unknown sandbox and every option world-runtime refuses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AuthenticationError, InvalidArgumentError, Sandbox, SandboxError, SandboxNotFoundError, TimeoutError } from 'e2b';
import { removeHome, stopAll } from '../../server/helpers.js';
import { assertLoopbackOnly, type E2bDaemon, guardNetwork, rejection, startE2bDaemon, waitFor } from './helpers.js';

describe('E2B control plane through the e2b SDK', () => {
  let e: E2bDaemon;
  const tag = `t${process.pid}`;

  before(async () => {
    guardNetwork();
    e = await startE2bDaemon();
  });
  after(async () => {
    assertLoopbackOnly();
    await stopAll();
    removeHome(e.d.home);
  });

  it('creates a sandbox, finds it by metadata, reads its info and kills it', async () => {
    const a = await Sandbox.create({ metadata: { suite: tag, role: 'a' } });
    const b = await Sandbox.create({ metadata: { suite: tag, role: 'b' }, timeoutMs: 120_000 });
    try {
      assert.match(a.sandboxId, /^[a-z0-9]{20}$/);
      assert.notEqual(a.sandboxId, b.sandboxId);
      const found = await Sandbox.list({ query: { metadata: { suite: tag, role: 'b' } } }).nextItems();
      assert.deepEqual(
        found.map((s) => s.sandboxId),
        [b.sandboxId],
      );
      const both = await Sandbox.list({ query: { metadata: { suite: tag } } }).nextItems();
      assert.deepEqual(both.map((s) => s.sandboxId).sort(), [a.sandboxId, b.sandboxId].sort());
      const info = await b.getInfo();
      assert.equal(info.sandboxId, b.sandboxId);
      assert.equal(info.templateId, 'base');
      assert.equal(info.state, 'running');
      assert.deepEqual(info.metadata, { suite: tag, role: 'b' });
      const life = info.endAt.getTime() - info.startedAt.getTime();
      assert.ok(life > 119_000 && life <= 120_000, `timeoutMs 120000 gives a life of ${life} ms`);
      assert.equal(await a.isRunning(), true);
    } finally {
      assert.equal(await a.kill(), true);
      assert.equal(await b.kill(), true);
    }
    assert.equal(await a.isRunning(), false);
    assert.equal(await Sandbox.kill(a.sandboxId), false, 'killing twice answers false (404)');
    assert.deepEqual(await Sandbox.list({ query: { metadata: { suite: tag } } }).nextItems(), []);
  });

  it('pages the list with nextToken', async () => {
    const made = await Promise.all([0, 1, 2].map((i) => Sandbox.create({ metadata: { suite: `${tag}-page`, i: String(i) } })));
    try {
      const pager = Sandbox.list({ query: { metadata: { suite: `${tag}-page` } }, limit: 2 });
      const first = await pager.nextItems();
      assert.equal(first.length, 2);
      assert.equal(pager.hasNext, true);
      const second = await pager.nextItems();
      assert.equal(second.length, 1);
      assert.equal(pager.hasNext, false);
      assert.deepEqual([...first, ...second].map((s) => s.sandboxId).sort(), made.map((s) => s.sandboxId).sort());
    } finally {
      await Promise.all(made.map((s) => s.kill()));
    }
  });

  it('a sandbox past its timeout is killed: the SDK sees it gone', async () => {
    const s = await Sandbox.create();
    await s.setTimeout(1000);
    await waitFor('the sandbox to expire', async () => !(await s.isRunning()), 15_000);
    const err = await rejection(s.commands.run('echo late'));
    assert.ok(err instanceof SandboxNotFoundError || err instanceof TimeoutError, `${err.name}: ${err.message}`);
    await assert.rejects(Sandbox.getInfo(s.sandboxId), SandboxNotFoundError);
  });

  it('connect returns the same sandbox and only extends its timeout', async () => {
    const s = await Sandbox.create({ timeoutMs: 60_000 });
    try {
      const before = (await s.getInfo()).endAt.getTime();
      const same = await Sandbox.connect(s.sandboxId, { timeoutMs: 1000 });
      assert.equal(same.sandboxId, s.sandboxId);
      assert.equal((await same.getInfo()).endAt.getTime(), before, 'a shorter timeout does not shorten its life');
      await Sandbox.connect(s.sandboxId, { timeoutMs: 600_000 });
      assert.ok((await s.getInfo()).endAt.getTime() > before + 500_000);
      assert.equal((await same.commands.run('echo via-connect')).stdout, 'via-connect\n');
    } finally {
      await s.kill();
    }
  });

  it('pause keeps memory and files; connect resumes it under the same id', async () => {
    const s = await Sandbox.create();
    try {
      await s.files.write('kept.txt', 'files survive a pause');
      await s.commands.run('echo -n 7 > n.txt');
      assert.equal(await s.pause(), true);
      assert.equal((await s.getInfo()).state, 'paused');
      assert.equal(await s.pause(), false, 'pausing a paused sandbox answers false (409)');
      const paused = await Sandbox.list({ query: { state: ['paused'] } }).nextItems();
      assert.ok(paused.some((p) => p.sandboxId === s.sandboxId));
      await assert.rejects(s.files.read('kept.txt'), TimeoutError, 'a paused sandbox answers no traffic (502)');
      const back = await Sandbox.connect(s.sandboxId);
      assert.equal((await back.getInfo()).state, 'running');
      assert.equal(await back.files.read('kept.txt'), 'files survive a pause');
      assert.equal((await back.commands.run('cat n.txt')).stdout, '7');
    } finally {
      await s.kill();
    }
  });

  it('onTimeout pause: the sandbox pauses at its timeout, and autoResume wakes it on traffic', async () => {
    const s = await Sandbox.create({ lifecycle: { onTimeout: 'pause', autoResume: true } });
    try {
      const info = await s.getInfo();
      assert.deepEqual(info.lifecycle, { onTimeout: 'pause', autoResume: true });
      await s.files.write('before.txt', 'paused with me');
      await s.setTimeout(500);
      await waitFor('the sandbox to pause at its timeout', async () => (await s.getInfo()).state === 'paused', 15_000);
      // Traffic to a paused sandbox with autoResume resumes it.
      assert.equal(await s.files.read('before.txt'), 'paused with me');
      assert.equal((await s.getInfo()).state, 'running');
    } finally {
      await s.kill();
    }
  });

  it('reports metrics from the runtime', async () => {
    const s = await Sandbox.create();
    try {
      const [m] = await s.getMetrics();
      assert.ok(m, 'one metric entry');
      assert.equal(m.memTotal, 512 * 1024 * 1024);
      assert.ok(m.memUsed > 0, 'the interpreter uses memory');
      assert.ok(m.diskTotal > 0);
      assert.equal(m.cpuCount, 1);
    } finally {
      await s.kill();
    }
  });

  it('a wrong API key is an AuthenticationError; an unknown sandbox a SandboxNotFoundError', async () => {
    const err = await rejection(Sandbox.create({ apiKey: `${e.key}x` }));
    assert.ok(err instanceof AuthenticationError, `${err.name}: ${err.message}`);
    assert.match(err.message, /Invalid API key/);
    await assert.rejects(Sandbox.list({ apiKey: 'nope' }).nextItems(), AuthenticationError);
    await assert.rejects(Sandbox.getInfo('nosuchsandbox0000000'), SandboxNotFoundError);
    await assert.rejects(Sandbox.connect('nosuchsandbox0000000'), SandboxNotFoundError);
    assert.equal(await Sandbox.kill('nosuchsandbox0000000'), false);
  });

  it('refuses what it cannot honour, naming the limit, instead of ignoring it', async () => {
    const refused: [string, () => Promise<unknown>, RegExp][] = [
      ['another template', () => Sandbox.create('my-custom-template'), /template "my-custom-template" is not available/],
      ['internet access', () => Sandbox.create({ allowInternetAccess: true }), /no network access/],
      ['egress rules', () => Sandbox.create({ network: { allowOut: ['1.1.1.1'] } }), /allowOut/],
      ['volumes', () => Sandbox.create({ volumeMounts: { '/data': 'vol' } }), /no volumes/],
      ['MCP', () => Sandbox.create({ mcp: { exa: { apiKey: 'x' } } as never }), /MCP/],
      ['filesystem-only pause', () => Sandbox.create({ lifecycle: { onTimeout: { action: 'pause', keepMemory: false } } }), /memory only/],
    ];
    for (const [what, p, message] of refused) {
      const err = await rejection(p());
      assert.ok(err instanceof SandboxError, `${what}: ${err.name}: ${err.message}`);
      assert.equal((err as SandboxError).statusCode, 400, what);
      assert.match(err.message, message, what);
    }
    assert.deepEqual(await Sandbox.list({ query: { metadata: { suite: tag } } }).nextItems(), [], 'no sandbox was left behind');
    // A deny-all network is honoured as it is: worlds have no network.
    const s = await Sandbox.create({ allowInternetAccess: false, network: { denyOut: ['0.0.0.0/0'] } });
    await s.kill();
    await assert.rejects(Sandbox.create({ timeoutMs: 90_000_000 }), (err: Error) => err instanceof SandboxError && /timeout/.test(err.message));
    await assert.rejects(
      Sandbox.create({ lifecycle: { onTimeout: 'kill', autoResume: true } }),
      (err: Error) => err instanceof InvalidArgumentError, // refused by the SDK itself
    );
  });
});
