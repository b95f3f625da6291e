/**
 * Nothing a client or a world sends crashes the daemon: raw HTTP against /e2b (no key, bad JSON, bad
 * Connect frames, wrong tokens, unknown sandboxes and routes), hostile code in a sandbox (it replaces the
 * helper, kills its own interpreter), and every world is gone once the daemon stops.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Sandbox, TimeoutError } from '@e2b/code-interpreter';
import { noProcessesLeft, processesMentioning } from '../../fixtures/runtime.js';
import { call, removeHome, stopDaemon } from '../../server/helpers.js';
import { type E2bDaemon, startE2bDaemon } from './helpers.js';

function frame(flags: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

describe('the E2B surface under bad input', () => {
  let e: E2bDaemon;
  let t: { url: string };
  let sbx: Sandbox;
  let envd: Record<string, string>;

  before(async () => {
    e = await startE2bDaemon();
    t = { url: e.d.url as string };
    sbx = await Sandbox.create();
    const token = (sbx as unknown as { envdAccessToken: string }).envdAccessToken;
    envd = { 'e2b-sandbox-id': sbx.sandboxId, 'e2b-sandbox-port': '49983', 'x-access-token': token };
    assert.ok(processesMentioning(e.d.home).length > 0, 'the sandbox is a world process');
  });
  after(async () => {
    await stopDaemon(e.d);
    await noProcessesLeft(e.d.home, 10_000); // no world outlives its daemon
    removeHome(e.d.home);
  });

  it('the control plane answers E2B-shaped errors for bad requests', async () => {
    const key = { 'x-api-key': e.key };
    const none = await call(t, 'GET', '/e2b/v2/sandboxes');
    assert.equal(none.status, 401);
    assert.deepEqual(Object.keys(none.json).sort(), ['code', 'message']);
    assert.equal(none.json.code, 401);
    assert.equal((await call(t, 'GET', '/e2b/v2/sandboxes', { headers: { authorization: `Bearer ${e.key}` } })).status, 200);
    assert.equal((await call(t, 'POST', '/e2b/sandboxes', { body: '{"templateID":', headers: { ...key, 'content-type': 'application/json' } })).status, 400);
    assert.equal((await call(t, 'POST', '/e2b/sandboxes', { json: [1, 2], headers: key })).status, 400);
    assert.equal((await call(t, 'POST', '/e2b/sandboxes', { json: { templateID: 'base', timeout: -5 }, headers: key })).status, 400);
    assert.equal((await call(t, 'POST', '/e2b/sandboxes', { json: { templateID: 'base', surprise: 1 }, headers: key })).status, 400);
    assert.equal((await call(t, 'POST', '/e2b/sandboxes', { body: 'x'.repeat(9 << 20), headers: { ...key, 'content-type': 'application/json' } })).status, 413);
    assert.equal((await call(t, 'GET', '/e2b/no/such/thing', { headers: key })).status, 404);
    assert.equal((await call(t, 'GET', '/e2b/volumes', { headers: key })).status, 400);
    assert.equal((await call(t, 'POST', `/e2b/sandboxes/${sbx.sandboxId}/fork`, { json: { count: 101 }, headers: key })).status, 400);
    assert.equal((await call(t, 'GET', '/e2b/sandboxes/%ZZ', { headers: key })).status, 400, 'a malformed id is a bad request');
    // /e2b is served on TCP only: the unix socket has no such route.
    assert.equal((await call({ socket: e.d.socket } as never, 'GET', '/e2b/v2/sandboxes')).status, 404);
  });

  it('serves the v1 routes the SDK no longer calls: create, list, resume, refresh', async () => {
    const key = { 'x-api-key': e.key };
    const made = await call(t, 'POST', '/e2b/sandboxes', { json: { templateID: 'base', metadata: { v: '1' } }, headers: key });
    assert.equal(made.status, 201);
    assert.deepEqual(Object.keys(made.json).sort(), ['clientID', 'domain', 'envdAccessToken', 'envdVersion', 'sandboxID', 'templateID', 'trafficAccessToken']);
    const id = made.json.sandboxID;
    const listed = await call(t, 'GET', `/e2b/sandboxes?metadata=${encodeURIComponent('v=1')}`, { headers: key });
    assert.deepEqual(
      listed.json.map((x: { sandboxID: string }) => x.sandboxID),
      [id],
    );
    assert.equal((await call(t, 'POST', `/e2b/sandboxes/${id}/refreshes`, { json: { duration: 600 }, headers: key })).status, 204);
    assert.equal((await call(t, 'POST', `/e2b/sandboxes/${id}/resume`, { json: {}, headers: key })).status, 409, 'it is running');
    assert.equal((await call(t, 'POST', `/e2b/sandboxes/${id}/pause`, { json: {}, headers: key })).status, 204);
    const resumed = await call(t, 'POST', `/e2b/sandboxes/${id}/resume`, { json: { timeout: 60 }, headers: key });
    assert.equal(resumed.status, 201);
    assert.equal(resumed.json.sandboxID, id);
    assert.equal((await call(t, 'DELETE', `/e2b/sandboxes/${id}`, { headers: key })).status, 204);
    assert.equal((await call(t, 'DELETE', `/e2b/sandboxes/${id}`, { headers: key })).json.code, 404);
  });

  it('sandbox traffic needs the sandbox token; a dead or unknown sandbox is 502', async () => {
    const noToken = await call(t, 'GET', '/e2b/health', { headers: { 'e2b-sandbox-id': sbx.sandboxId, 'e2b-sandbox-port': '49983' } });
    assert.equal(noToken.status, 401);
    const wrong = await call(t, 'GET', '/e2b/health', { headers: { ...envd, 'x-access-token': e.key } });
    assert.equal(wrong.status, 401, 'the daemon token is not a sandbox token');
    assert.equal((await call(t, 'GET', '/e2b/health', { headers: envd })).status, 204);
    assert.equal((await call(t, 'GET', '/e2b/health', { headers: { ...envd, 'e2b-sandbox-id': 'unknown' } })).status, 502);
    assert.equal((await call(t, 'GET', '/e2b/health', { headers: { ...envd, 'e2b-sandbox-port': '8080' } })).status, 502);
  });

  it('malformed Connect calls get Connect errors', async () => {
    const rpc = (path: string, body: string | Buffer, type: string) => call(t, 'POST', `/e2b/${path}`, { body, headers: { ...envd, 'content-type': type } });
    const bad = await rpc('filesystem.Filesystem/Stat', 'not json', 'application/json');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'invalid_argument');
    const wrongType = await rpc('filesystem.Filesystem/Stat', '{"path": 5}', 'application/json');
    assert.equal(wrongType.json.code, 'invalid_argument');
    assert.equal((await rpc('filesystem.Filesystem/Nope', '{}', 'application/json')).json.code, 'unimplemented');
    assert.equal((await rpc('filesystem.Filesystem/Stat', '{}', 'application/proto')).status, 501);
    // A streaming call with a torn frame, two frames, a huge declared length, or a bad message.
    for (const body of [Buffer.from([0, 0, 0]), Buffer.concat([frame(0, Buffer.from('{}')), frame(0, Buffer.from('{}'))]), Buffer.from([0, 255, 255, 255, 255]), frame(0, Buffer.from('[]'))]) {
      const r = await rpc('process.Process/Start', body, 'application/connect+json');
      assert.equal(r.status, 200, 'stream errors come in the end frame');
      const end = r.body.subarray(5);
      assert.equal(r.body[0], 2);
      assert.ok(JSON.parse(end.toString()).error.code, end.toString());
    }
    const si = await rpc('process.Process/StreamInput', Buffer.concat([frame(0, Buffer.from('{"data":{"input":{"stdin":"aGk="}}}'))]), 'application/connect+json');
    assert.match(si.body.toString(), /start message first/);
    const upload = await call(t, 'POST', '/e2b/files?path=x', { body: '--b\r\nbroken', headers: { ...envd, 'content-type': 'multipart/form-data; boundary=b' } });
    assert.equal(upload.status, 400);
    assert.equal((await sbx.runCode('1 + 1')).text, '2', 'the sandbox is fine');
  });

  it('serves the Connect methods the SDK does not call: StreamInput and the polled watchers', async () => {
    const rpc = (path: string, json: unknown) => call(t, 'POST', `/e2b/${path}`, { json, headers: envd });
    const started = await call(t, 'POST', '/e2b/process.Process/Start', {
      body: frame(0, Buffer.from(JSON.stringify({ process: { cmd: '/bin/cat' }, stdin: true, tag: 'raw-cat' }))),
      headers: { ...envd, 'content-type': 'application/connect+json', 'connect-timeout-ms': '300' },
    });
    assert.equal(started.status, 200);
    const pid = JSON.parse(started.body.subarray(5, 5 + started.body.readUInt32BE(1)).toString()).event.start.pid;
    assert.ok(pid > 0);
    // The Start stream ended at its timeout and killed cat; start another one, kept by its tag, to feed.
    const listed = await rpc('process.Process/List', {});
    assert.ok(!listed.json.processes.some((p: { pid: number }) => p.pid === pid), 'killed at its timeout');

    const w = await rpc('filesystem.Filesystem/CreateWatcher', { path: '/tmp' });
    assert.equal(w.status, 200);
    const watcherId = w.json.watcherId;
    assert.equal((await call(t, 'POST', '/e2b/files?path=/tmp/seen.txt', { body: 'x', headers: { ...envd, 'content-type': 'application/octet-stream' } })).status, 200);
    const evs = await rpc('filesystem.Filesystem/GetWatcherEvents', { watcherId });
    assert.ok(
      evs.json.events.some((ev: { name: string; type: string }) => ev.name === 'seen.txt' && ev.type === 'EVENT_TYPE_CREATE'),
      JSON.stringify(evs.json),
    );
    assert.deepEqual((await rpc('filesystem.Filesystem/RemoveWatcher', { watcherId })).json, {});
    assert.equal((await rpc('filesystem.Filesystem/GetWatcherEvents', { watcherId })).json.code, 'not_found');

    const h = await sbx.commands.run('cat', { background: true, stdin: true });
    const input = Buffer.concat([
      frame(0, Buffer.from(JSON.stringify({ start: { process: { pid: h.pid } } }))),
      frame(0, Buffer.from(JSON.stringify({ data: { input: { stdin: Buffer.from('one ').toString('base64') } } }))),
      frame(0, Buffer.from(JSON.stringify({ keepalive: {} }))),
      frame(0, Buffer.from(JSON.stringify({ data: { input: { stdin: Buffer.from('two').toString('base64') } } }))),
    ]);
    const si = await call(t, 'POST', '/e2b/process.Process/StreamInput', { body: input, headers: { ...envd, 'content-type': 'application/connect+json' } });
    assert.equal(si.status, 200);
    await sbx.commands.closeStdin(h.pid);
    assert.equal((await h.wait()).stdout, 'one two');
  });

  it('hostile code in the sandbox cannot take the daemon down', async () => {
    // The helper lives in the user's interpreter: code there may replace it or remove it, and gets it back.
    await sbx.runCode('import sys\nsys.modules["_wr_e2b"] = type("M", (), {"call": staticmethod(lambda *a: "not json")})');
    assert.ok(Array.isArray(await sbx.files.list('.')), 'a replaced helper is installed again');
    await sbx.runCode('del sys.modules["_wr_e2b"]');
    assert.ok(Array.isArray(await sbx.files.list('.')), 'a missing helper is installed again');
    await sbx.runCode('sys.modules["_wr_e2b"].call = lambda *a: 7');
    assert.equal((await sbx.runCode('6 * 7')).text, '42');
    const other = await Sandbox.create();
    await other.runCode('print("x" * (3 << 20))');
    // requestTimeoutMs 0: a runCode that fails leaves the SDK's request timer running otherwise (60 s).
    const died = await other.runCode('import os\nos._exit(3)', { requestTimeoutMs: 0 }).then(
      () => null,
      (err: Error) => err,
    );
    assert.ok(died instanceof TimeoutError, `${died?.name}: ${died?.message}`);
    assert.match(died.message, /sandbox was killed/);
    assert.equal(await other.isRunning(), false, 'its world died with its interpreter');
    const h = await call(t, 'GET', '/e2b/v2/sandboxes', { headers: { 'x-api-key': e.key } });
    assert.equal(h.status, 200);
    assert.ok(!h.json.some((s: { sandboxID: string }) => s.sandboxID === other.sandboxId));
    assert.equal((await sbx.commands.run('echo alive')).stdout, 'alive\n');
  });
});
