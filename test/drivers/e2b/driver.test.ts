/**
 * The e2b driver beyond the contract (test/drivers/contract/e2b.test.ts): `WorldRuntime.open({driver:
 * 'e2b'})` against a real daemon's E2B-compatible API, its options checked at open, and what the remote
 * engine's failures become: a refused key, a sandbox killed behind the driver's back, a daemon that stopped,
 * and a fake engine on 127.0.0.1 answering 5xx (retried only where the call is idempotent).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Sandbox } from 'e2b';
import { WorldRuntimeError } from '../../../src/base/errors.js';
import { normalizeOpen } from '../../../src/core/options.js';
import { E2bDriver } from '../../../src/drivers/e2b/index.js';
import { WorldRuntime } from '../../../src/index.js';
import { assertLoopbackOnly, guardNetwork } from '../../compat/e2b/helpers.js';
import { tempHome } from '../../fixtures/runtime.js';
import { waitFor } from '../../fixtures/wait.js';
import { call, removeHome, type Spawned, startDaemon, stopAll, stopDaemon } from '../../server/helpers.js';
import { rejectsWith } from '../contract/suite.js';

const DOMAIN = 'world-runtime.invalid';
const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

/** The CLI as a user runs it, without blocking this process (the engine daemon answers meanwhile). */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    child.once('error', fail);
    child.once('close', (code) => done({ code, stdout, stderr }));
  });
}

function errorOf(p: Promise<unknown>): Promise<WorldRuntimeError> {
  return p.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => {
      assert.ok(WorldRuntimeError.is(err), `not a WorldRuntimeError: ${String(err)}`);
      return err;
    },
  );
}

describe('e2b options', () => {
  test('are checked at open, each error naming its option', () => {
    const bad: [unknown, RegExp][] = [
      ['yes', /^e2b must be an object/],
      [{ apiURL: 'http://127.0.0.1:1' }, /e2b: unknown option "apiURL"/],
      [{ apiUrl: 'ftp://127.0.0.1/' }, /e2b\.apiUrl must be an http/],
      [{ sandboxUrl: 'not a url' }, /e2b\.sandboxUrl must be an http/],
      [{ requestTimeoutMs: 0 }, /e2b\.requestTimeoutMs must be an integer from 1/],
      [{ template: '' }, /e2b\.template must be a non-empty string/],
      [{ apiKey: 'two words' }, /e2b\.apiKey must be a non-empty string without spaces, got string$/],
    ];
    for (const [e2b, message] of bad) {
      assert.throws(
        () => normalizeOpen({ driver: 'e2b', e2b: e2b as never }),
        (err: Error) => WorldRuntimeError.is(err) && err.code === 'INVALID_ARGUMENT' && message.test(err.message),
      );
    }
    const ok = normalizeOpen({ driver: 'e2b', e2b: { apiUrl: 'http://127.0.0.1:7070/e2b', template: 'base', requestTimeoutMs: 500 } });
    assert.deepEqual([ok.driver, ok.e2b], ['e2b', { apiUrl: 'http://127.0.0.1:7070/e2b', template: 'base', requestTimeoutMs: 500 }]);
  });

  test('fall back to the SDK variables, and an option wins over its variable', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { E2B_API_KEY: 'from-env', E2B_DOMAIN: 'example.invalid', E2B_SANDBOX_URL: '' });
      delete process.env.E2B_API_URL;
      const d = new E2bDriver({ apiKey: 'from-option' });
      assert.deepEqual([d.endpoint.apiKey, d.endpoint.apiUrl, d.endpoint.sandboxUrl], ['from-option', 'https://api.example.invalid', undefined]);
      process.env.E2B_API_URL = 'http://127.0.0.1:9/e2b/';
      assert.equal(new E2bDriver().endpoint.apiUrl, 'http://127.0.0.1:9/e2b', 'the variable, without its trailing slash');
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });
});

describe('the e2b driver against a daemon', () => {
  let d: Spawned;
  let url: string;
  const conn = () => ({ apiUrl: url, sandboxUrl: url, domain: DOMAIN, apiKey: d.token });
  const listed = async () => (await (await fetch(`${url}/v2/sandboxes`, { headers: { 'x-api-key': d.token } })).json()) as { sandboxID: string }[];

  before(async () => {
    guardNetwork();
    d = await startDaemon({ listen: '127.0.0.1:0' });
    url = `${d.url as string}/e2b`;
  });
  after(async () => {
    assertLoopbackOnly();
    await stopAll();
    removeHome(d.home);
  });

  test('WorldRuntime.open({driver: "e2b"}): create → exec → snapshot → branch(3) → destroy', async () => {
    const home = tempHome('wr-e2b');
    const rt = await WorldRuntime.open({ home, driver: 'e2b', e2b: conn(), warn: () => {} });
    try {
      const w = await rt.create();
      assert.equal((await w.exec('import random\nrandom.seed(7)\nstate = ["base"]\n"it\'s " * 2')).value, `"it's it's "`, 'the exact repr');
      const streamed: string[] = [];
      await w.exec('print("hi")', { onOutput: (s, chunk) => streamed.push(`${s}:${chunk}`) });
      await w.run('printf base > note.txt; echo out; echo err >&2', { onOutput: (s, chunk) => streamed.push(`${s}:${chunk}`) });
      assert.deepEqual(streamed.sort(), ['stderr:err\n', 'stdout:hi\n', 'stdout:out\n'], 'exec and run stream their output');
      const signalled = await w.run('kill -TERM $$');
      assert.deepEqual([signalled.exitCode, signalled.signal, signalled.timedOut], [null, 'SIGTERM', false], 'a command ended by a signal names it');
      const s = await w.snapshot();
      await w.exec('state.append("after")');
      const kids = await rt.branch(s, 3);
      assert.equal(kids.length, 3);
      const seen = await Promise.all(
        kids.map(async (k) => [(await k.exec('state')).value, (await k.run('cat note.txt')).stdout, (await k.exec('random.random()')).value]),
      );
      for (const [state, note] of seen) assert.deepEqual([state, note], ["['base']", 'base']);
      assert.equal(new Set(seen.map((x) => x[2])).size, 3, 'each branch draws its own random numbers (sameRandom: false; the runner’s reseed: cell.test.ts)');
      assert.ok(
        (await rt.doctor()).drivers.some((r) => r.driver === 'e2b' && r.available === true),
        'doctor reports the e2b driver, answering',
      );
      await Promise.all(kids.map((k) => k.destroy()));
      await w.destroy();
      await s.destroy();
    } finally {
      await rt.close();
      removeHome(home);
    }
    assert.deepEqual(await listed(), [], 'nothing left on the engine');
  });

  test('serve --driver e2b: a daemon whose worlds are sandboxes of another daemon', async () => {
    const front = await startDaemon({ args: ['--driver', 'e2b'], env: { E2B_API_URL: url, E2B_SANDBOX_URL: url, E2B_DOMAIN: DOMAIN, E2B_API_KEY: d.token } });
    try {
      const t = { socket: front.socket };
      const made = await call(t, 'POST', '/v1/worlds', { json: {} });
      assert.equal(made.status, 201, made.text);
      assert.equal((await listed()).length, 1, 'the world is a sandbox of the engine');
      const r = await call(t, 'POST', `/v1/worlds/${made.json.id}/exec`, { json: { code: 'x = 6\nx * 7' } });
      assert.equal(r.json.value, '42', r.text);
    } finally {
      await stopDaemon(front);
      removeHome(front.home);
    }
    await waitFor('the front daemon to kill its sandbox as it stops', async () => (await listed()).length === 0);
  });

  test('demo --driver e2b tells the whole story on sandboxes of another daemon, as npm run demo -- --driver e2b does', async () => {
    const home = tempHome();
    const env = { ...process.env, E2B_API_URL: url, E2B_SANDBOX_URL: url, E2B_DOMAIN: DOMAIN, E2B_API_KEY: d.token, WORLD_RUNTIME_TOKEN: '' };
    try {
      const demo = await runCli(['demo', '--home', home, '--driver', 'e2b'], env);
      assert.equal(demo.code, 0, demo.stderr);
      assert.match(demo.stdout, /world-runtime demo {2}\(driver: e2b,/);
      assert.match(demo.stdout, /winner verse-\w+; collapsed/);
      assert.match(demo.stdout, /WEV \(balance that evaporated with the collapsed verses\): 600 usd/);
      assert.ok((await listed()).length > 0, 'the demo\'s worlds are sandboxes of the engine');
      const again = await runCli(['demo', '--home', home, '--driver', 'process'], env);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /already runs driver e2b/);
    } finally {
      const stop = await runCli(['stop', '--home', home], env);
      assert.equal(stop.code, 0, stop.stderr);
      removeHome(home);
    }
    await waitFor('the demo\'s daemon to kill its sandboxes as it stops', async () => (await listed()).length === 0);
  });

  test('a refused key is a DriverError that says so and names the endpoint; doctor says it does not answer', async () => {
    const drv = new E2bDriver({ ...conn(), apiKey: 'not-the-token' });
    const err = await errorOf(drv.create({ id: 'w', memoryMib: 256, vcpus: 1 }));
    assert.equal(err.code, 'DRIVER');
    assert.match(err.message, /refused the API key/);
    assert.ok(err.message.includes(url), err.message);
    const report = await drv.doctor();
    assert.equal(report.available, false);
    assert.ok(report.notes.some((n) => n.includes(url)) && report.notes.some((n) => /does not answer/.test(n)), report.notes.join('\n'));
    await drv.close();
  });

  test('a sandbox killed behind the driver is a failed world, heard once; destroy still resolves', async () => {
    const drv = new E2bDriver(conn());
    const heard: string[] = [];
    drv.onWorldExit((id) => heard.push(id));
    const w = await drv.create({ id: 'victim', memoryMib: 256, vcpus: 1 });
    const [sandboxId] = await drv.sandboxes();
    assert.ok(sandboxId && (await Sandbox.kill(sandboxId, { ...conn(), requestTimeoutMs: 5000 })));
    await rejectsWith(() => drv.exec(w, '1', {}), 'WORLD_FAILED', 'exec in a sandbox killed remotely');
    await rejectsWith(() => drv.readFile(w, 'x'), 'WORLD_FAILED', 'readFile after');
    assert.deepEqual(heard, ['victim']);
    await drv.destroyWorld(w);
    await rejectsWith(() => drv.exec(w, '1', {}), 'WORLD_NOT_FOUND', 'exec once destroyed');
    await drv.close();
  });

  test('a daemon that stopped: DriverError naming the endpoint, destroy and close resolve', async () => {
    const drv = new E2bDriver(conn());
    const w = await drv.create({ id: 'orphan', memoryMib: 256, vcpus: 1 });
    await stopDaemon(d);
    for (const call of [() => drv.create({ id: 'late', memoryMib: 256, vcpus: 1 }), () => drv.exec(w, '1', {}), () => drv.run(w, 'true', {})]) {
      const err = await errorOf(call());
      assert.equal(err.code, 'DRIVER', err.message);
      assert.ok(err.message.includes(url) && /did not answer/.test(err.message), err.message);
    }
    assert.equal((await drv.doctor()).available, false);
    await drv.destroyWorld(w);
    await drv.close();
  });
});

describe('the e2b driver against an engine answering 5xx', () => {
  let server: Server;
  let base: string;
  const hits: string[] = [];
  let killsRefused = 0;
  let oddExec = false;

  before(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (req.method === 'POST' && req.url === '/v2/sandboxes')
        return json(201, {
          templateID: 'base',
          sandboxID: 'fake-1',
          clientID: 'c',
          envdVersion: '0.6.4',
          envdAccessToken: 't',
          trafficAccessToken: 't',
          domain: DOMAIN,
        });
      if (req.method === 'DELETE' && req.url === '/sandboxes/fake-1') {
        if (killsRefused++ < 2) return json(503, { code: 503, message: 'engine busy' });
        return res.writeHead(204).end();
      }
      if (req.url === '/health') return res.writeHead(204).end();
      // Answers the SDK passes on but no engine should give: the driver must not trip over them.
      if (req.method === 'POST' && req.url === '/sandboxes/fake-1/snapshots') return json(201, { names: [] });
      if (req.method === 'POST' && req.url === '/execute' && oddExec) return res.writeHead(200).end('{"type": "stdout"}\nnot json\n');
      json(500, { code: 500, message: 'engine exploded' });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  test('runCode and create are not retried; kill is, with backoff, until it passes', async () => {
    const drv = new E2bDriver({ apiUrl: base, sandboxUrl: base, domain: DOMAIN, apiKey: 'k' });
    const w = await drv.create({ id: 'w', memoryMib: 256, vcpus: 1 });
    const err = await errorOf(drv.exec(w, '1', {}));
    assert.equal(err.code, 'DRIVER');
    assert.match(err.message, /500/);
    assert.equal(hits.filter((h) => h === 'POST /execute').length, 1, 'one runCode request: not idempotent, not retried');
    assert.equal(hits.filter((h) => h === 'POST /v2/sandboxes').length, 1);
    oddExec = true;
    for (const [what, call] of [
      ['an exec answered with garbage', () => drv.exec(w, '1', {})],
      ['a snapshot answered without its id', () => drv.snapshot(w, 's')],
    ] as const) {
      const odd = await errorOf(call());
      assert.equal(odd.code, 'DRIVER', `${what}: ${odd.code} ${odd.message}`);
      assert.ok(odd.message.includes(base), odd.message);
    }
    await drv.destroyWorld(w);
    await waitFor('the kill to pass on its third try', () => hits.filter((h) => h === 'DELETE /sandboxes/fake-1').length === 3);
    await drv.close();
  });
});
