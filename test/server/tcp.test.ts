/**
 * TCP: always behind the bearer token (from <home>/token or $WORLD_RUNTIME_TOKEN), loopback only; the unix
 * socket and the token file are private (0600).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { call, conforms, expectCall, MAIN, removeHome, type Spawned, startDaemon, stopAll, tempHome } from './helpers.js';

const ENV_TOKEN = 'test-token-from-the-environment-0123456789';

describe('daemon over loopback TCP', () => {
  let d: Spawned;

  before(async () => {
    d = await startDaemon({ listen: '127.0.0.1:0', env: { WORLD_RUNTIME_TOKEN: ENV_TOKEN } });
  });
  after(async () => {
    await stopAll();
    removeHome(d.home);
  });

  it('listens on 127.0.0.1 and keeps its socket and token private', () => {
    assert.match(d.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(statSync(d.socket).mode & 0o777, 0o600);
    assert.equal(statSync(`${d.home}/token`).mode & 0o777, 0o600);
    assert.ok(d.token.length >= 32);
  });

  it('401 without a token, with a wrong one, or a malformed header', async () => {
    const t = { url: d.url as string };
    const none = await call(t, 'GET', '/v1/health');
    assert.equal(none.status, 401);
    conforms(none, 'GET', '/v1/health');
    assert.equal(none.json.error.code, 'UNAUTHORIZED');
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    assert.equal((await call(t, 'GET', '/v1/health', { headers: { authorization: `Bearer ${d.token}x` } })).status, 401);
    assert.equal((await call(t, 'GET', '/v1/health', { headers: { authorization: `Basic ${d.token}` } })).status, 401);
    // A request with a body is refused before the body is read.
    const post = await call(t, 'POST', '/v1/worlds', { json: {} });
    assert.equal(post.status, 401);
  });

  it('serves the API with the token file or $WORLD_RUNTIME_TOKEN', async () => {
    const t = { url: d.url as string };
    const h = await expectCall(t, 'GET', '/v1/health', '/v1/health', 200, { headers: { authorization: `Bearer ${d.token}` } });
    assert.equal(h.json.transport, 'tcp');
    await expectCall(t, 'GET', '/v1/health', '/v1/health', 200, { headers: { authorization: `Bearer ${ENV_TOKEN}` } });
    const auth = { authorization: `Bearer ${d.token}` };
    const w = await expectCall(t, 'POST', '/v1/sandboxes', '/v1/sandboxes', 201, { json: { metadata: { over: 'tcp' } }, headers: auth });
    const r = await expectCall(t, 'POST', `/v1/sandboxes/${w.json.id}/execute`, '/v1/sandboxes/{id}/execute', 200, { json: { code: '6 * 7' }, headers: auth });
    assert.equal(r.json.value, '42');
    const s = await expectCall(t, 'POST', `/v1/sandboxes/${w.json.id}/snapshots`, '/v1/sandboxes/{id}/snapshots', 201, {
      json: { name: 'tcp' },
      headers: auth,
    });
    assert.match(s.json.snapshot_id, /^s-/);
    await expectCall(t, 'DELETE', `/v1/worlds/${w.json.id}`, '/v1/worlds/{id}', 200, { headers: auth });
  });

  it('the unix socket needs no token', async () => {
    await expectCall({ socket: d.socket }, 'GET', '/v1/health', '/v1/health', 200);
  });
});

describe('--listen refuses addresses other machines could reach', () => {
  for (const addr of ['0.0.0.0:7070', '192.168.1.10:7070', '[::]:7070', 'example.com:7070']) {
    it(`refuses ${addr} before opening anything`, () => {
      const home = tempHome();
      try {
        const r = spawnSync(process.execPath, [MAIN, 'serve', '--home', home, '--listen', addr], { encoding: 'utf8', timeout: 20_000 });
        assert.equal(r.status, 1, r.stderr + r.stdout);
        assert.match(r.stderr, /^world-runtime: error: --listen: .*(loopback)/m);
        assert.equal(r.stderr.trim().split('\n').length, 1, 'one-line error');
      } finally {
        removeHome(home);
      }
    });
  }
});
