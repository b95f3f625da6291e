/**
 * The morph driver when the remote engine fails: a refused connection, a 5xx (retried with backoff when the
 * call is idempotent, else answered at once), no answer within the request timeout, a wrong key, and a
 * world whose instance is gone remotely. Each maps to the error class a local driver throws, carrying the
 * engine's message. The engines are a stub HTTP server and a daemon's /morph routes, both on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WorldRuntime } from '../../../src/index.js';
import { MorphDriver } from '../../../src/drivers/morph/index.js';
import { rejectsWith } from '../contract/suite.js';
import { removeHome, type Spawned, startDaemon, stopAll, tempHome } from '../../server/helpers.js';
import { waitFor } from '../../fixtures/wait.js';

async function stub(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('morph driver: failures of the remote engine', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });

  it('a refused connection is a DriverError naming the endpoint, after its retries', async () => {
    const { server, url } = await stub(() => {});
    await new Promise((r) => server.close(r));
    const d = new MorphDriver({ apiKey: 'k', baseUrl: url });
    await rejectsWith(() => d.create({ id: 'w', memoryMib: 256, vcpus: 1 }), 'DRIVER', 'create against a closed port');
    const r = await d.doctor();
    assert.equal(r.answers, false);
    assert.equal(r.available, false);
    assert.equal(r.endpoint, url);
    assert.match(r.notes[0] as string, /does not answer: .*ECONNREFUSED/);
  });

  it('retries an idempotent call through 5xx answers, and does not retry one that is not', async () => {
    let gets = 0;
    let posts = 0;
    const { server, url } = await stub((req, res) => {
      if (req.method === 'GET') {
        gets++;
        if (gets < 3) {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"detail":"engine overloaded"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"object":"list","data":[]}');
        return;
      }
      posts++;
      res.writeHead(502, { 'content-type': 'application/json' }).end('{"detail":"bad gateway upstream"}');
    });
    servers.push(server);
    const d = new MorphDriver({ apiKey: 'k', baseUrl: url });
    assert.deepEqual(await d.leftover(), []);
    assert.equal(gets, 3, 'two 503s, then the answer');
    const err = await d.create({ id: 'w', memoryMib: 256, vcpus: 1 }).then(
      () => assert.fail('create resolved'),
      (e: Error) => e,
    );
    assert.equal((err as { code?: string }).code, 'DRIVER');
    assert.match(err.message, /answered 502: bad gateway upstream/, "with the engine's message");
    assert.equal(posts, 1, 'a POST that may have reached the engine is not sent again');
  });

  it('a call with no answer within requestTimeoutMs is a DriverError; a wrong key too', async () => {
    const { server, url } = await stub((req, res) => {
      if (req.headers.authorization !== 'Bearer good') {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"detail":"invalid API key"}');
        return;
      }
      // never answers
    });
    servers.push(server);
    const slow = new MorphDriver({ apiKey: 'good', baseUrl: url, requestTimeoutMs: 150 });
    const err = await slow.leftover().then(
      () => assert.fail('resolved'),
      (e: Error) => e,
    );
    assert.equal((err as { code?: string }).code, 'DRIVER');
    assert.match(err.message, /no answer within 150 ms/);
    const wrong = new MorphDriver({ apiKey: 'bad', baseUrl: url });
    await rejectsWith(() => wrong.create({ id: 'w', memoryMib: 256, vcpus: 1 }), 'DRIVER', 'create with a wrong key');
    server.closeAllConnections();
  });

  it('WorldRuntime.open refuses driver morph without an API key, and checks its options', async () => {
    const saved = process.env.MORPH_API_KEY;
    delete process.env.MORPH_API_KEY;
    const home = tempHome('wr-morph-nokey');
    try {
      await rejectsWith(() => WorldRuntime.open({ driver: 'morph', record: false, home }), 'INVALID_ARGUMENT', 'no key');
      await rejectsWith(() => WorldRuntime.open({ driver: 'morph', record: false, morph: { baseUrl: 'ftp://x' } }), 'INVALID_ARGUMENT', 'a bad baseUrl');
      // biome-ignore lint/suspicious/noExplicitAny: an unknown key, on purpose
      await rejectsWith(() => WorldRuntime.open({ driver: 'morph', record: false, morph: { apiKey: 'k', region: 'x' } as any }), 'INVALID_ARGUMENT', 'an unknown key');
    } finally {
      removeHome(home);
      if (saved !== undefined) process.env.MORPH_API_KEY = saved;
    }
  });
});

describe('morph driver: a world gone remotely', () => {
  let d: Spawned;
  before(async () => {
    d = await startDaemon({ listen: '127.0.0.1:0', args: ['--no-record'] });
  });
  after(async () => {
    await stopAll();
    removeHome(d.home);
  });

  it('is WorldFailedError, heard once by the exit listeners; destroy still resolves', async () => {
    const base = `${d.url as string}/morph`;
    const drv = new MorphDriver({ apiKey: d.token, baseUrl: base });
    const heard: string[] = [];
    drv.onWorldExit((id) => heard.push(id));
    try {
      const w = await drv.create({ id: 'w-gone', memoryMib: 256, vcpus: 1 });
      assert.equal((await drv.run(w, 'echo up', {})).stdout, 'up\n');
      const [instanceId] = await drv.leftover();
      const del = await fetch(`${base}/instance/${instanceId}`, { method: 'DELETE', headers: { authorization: `Bearer ${d.token}` } });
      assert.equal(del.status, 200);
      await rejectsWith(() => drv.run(w, 'true', {}), 'WORLD_FAILED', 'run in a world whose instance was stopped remotely');
      await waitFor('the exit listener', () => heard.length > 0);
      await rejectsWith(() => drv.readFile(w, 'x'), 'WORLD_FAILED', 'and every later call');
      assert.deepEqual(heard, ['w-gone']);
      await drv.destroyWorld(w);
      await rejectsWith(() => drv.run(w, 'true', {}), 'WORLD_NOT_FOUND', 'once destroyed');
      const r = await drv.doctor();
      assert.equal(r.answers, true);
      assert.equal(typeof r.latencyMs, 'number');
    } finally {
      await drv.close();
    }
  });
});
