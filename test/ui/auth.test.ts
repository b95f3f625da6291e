/**
 * Who may use the web view, over plain HTTP against a real daemon: `world-runtime ui` prints a one-time
 * link on its last line; without a session every page and call of the view answers 401; the code is spent
 * by its first use and never reaches the daemon's log; the cookie is HttpOnly, SameSite=Strict; another
 * Host, a cross-origin Origin or Sec-Fetch-Site, or a change without an Origin is refused; and the session
 * never stands in for the bearer token on /v1.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CODE_TTL_MS, Sessions } from '../../src/ui/auth.js';
import { call, MAIN, removeHome, type Spawned, startDaemon, stopAll } from '../server/helpers.js';

describe('the web view on TCP', () => {
  let d: Spawned;
  let base: string;
  let cookie = '';

  /** `world-runtime ui --no-open`: its last line. */
  function loginLink(): string {
    const out = execFileSync(process.execPath, [MAIN, 'ui', '--no-open', '--home', d.home], { encoding: 'utf8', env: { ...process.env, WORLD_RUNTIME_AUTOSTART: '0' } });
    const last = out.trimEnd().split('\n').at(-1) ?? '';
    assert.match(last, /^http:\/\/127\.0\.0\.1:\d+\/ui\/login\?code=[A-Za-z0-9_-]{43}$/, out);
    return last;
  }

  const get = (path: string, headers: Record<string, string> = {}) => call({ url: base }, 'GET', path, { headers });

  before(async () => {
    d = await startDaemon();
  });
  after(async () => {
    await stopAll();
    removeHome(d.home);
  });

  it('`world-runtime ui` starts the TCP listener and prints a one-time link on its last line, without the token', async () => {
    const link = loginLink();
    assert.ok(!link.includes(d.token), 'the daemon token is not in the URL');
    base = new URL(link).origin;
    const info = JSON.parse(readFileSync(join(d.home, 'daemon.json'), 'utf8'));
    assert.equal(info.tcp, base);
    // The view is TCP's only: the unix socket serves no /ui.
    assert.equal((await call({ socket: d.socket }, 'GET', '/ui/')).status, 404);
  });

  it('answers 401 to every page and call of the view without a session', async () => {
    for (const path of ['/ui', '/ui/', '/ui/app.js', '/ui/style.css', '/ui/api/tree', '/ui/api/events', '/ui/api/capacity', '/ui/api/node/w-1', '/ui/api/v1/worlds', '/ui/nope']) {
      const a = await get(path);
      assert.equal(a.status, 401, `${path}: ${a.status}`);
    }
    assert.equal((await call({ url: base }, 'POST', '/ui/api/v1/worlds', { json: {}, headers: { origin: base } })).status, 401);
    assert.equal((await get('/ui/', { cookie: `wr_ui_${new URL(base).port}=forged` })).status, 401);
  });

  it('a visit spends the code for an HttpOnly, SameSite=Strict cookie; a second visit or a wrong code is refused', async () => {
    const link = loginLink();
    const path = link.slice(base.length);
    assert.equal((await get('/ui/login?code=AAAA')).status, 401);
    const first = await get(path);
    assert.equal(first.status, 303);
    assert.equal(first.headers.location, '/ui/');
    const set = String(first.headers['set-cookie']);
    assert.match(set, /HttpOnly/);
    assert.match(set, /SameSite=Strict/);
    assert.match(set, /Path=\/ui/);
    cookie = set.split(';')[0] as string;
    assert.equal((await get(path)).status, 401, 'a code works once');
    // The log line of the visit names the path, not the code.
    const code = new URL(link).searchParams.get('code') as string;
    assert.ok(!d.output().includes(code), 'the code is not in the daemon log');
  });

  it('with the session: the page, its scripts, the view’s JSON and the daemon’s actions', async () => {
    const page = await get('/ui/', { cookie });
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
    assert.match(page.text, /<script type="module" src="\/ui\/app.js">/);
    assert.doesNotMatch(page.text, /https?:\/\//, 'nothing loaded from elsewhere');
    assert.equal((await get('/ui/app.js', { cookie })).headers['content-type'], 'text/javascript; charset=utf-8');
    const tree = await get('/ui/api/tree', { cookie });
    assert.equal(tree.status, 200);
    assert.deepEqual(Object.keys(tree.json).sort(), ['balances', 'daemon', 'events', 'nodes', 'seq', 'truncated']);
    const made = await call({ url: base }, 'POST', '/ui/api/v1/worlds', { json: {}, headers: { cookie, origin: base } });
    assert.equal(made.status, 201, made.text);
    const listed = await get('/ui/api/v1/worlds', { cookie });
    assert.deepEqual(
      listed.json.worlds.map((w: { id: string }) => w.id),
      [made.json.id],
    );
    // Through the view as through /v1: the same checks, the same errors.
    const bad = await call({ url: base }, 'POST', '/ui/api/v1/branch', { json: { source: made.json.id, count: 0 }, headers: { cookie, origin: base } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'INVALID_ARGUMENT');
    assert.equal((await call({ url: base }, 'DELETE', `/ui/api/v1/worlds/${made.json.id}`, { headers: { cookie, origin: base } })).status, 200);
  });

  it('the session never stands in for the bearer token on /v1', async () => {
    assert.equal((await get('/v1/worlds', { cookie })).status, 401);
    assert.equal((await get('/v1/worlds', { authorization: `Bearer ${d.token}` })).status, 200);
  });

  it('refuses another Host, a cross-origin request, and a change without its Origin', async () => {
    const port = new URL(base).port;
    const refused = async (method: string, path: string, headers: Record<string, string>, why: RegExp) => {
      const a = await call({ url: base }, method, path, { headers: { cookie, ...headers }, ...(method === 'POST' ? { json: {} } : {}) });
      assert.equal(a.status, 403, `${method} ${path} ${JSON.stringify(headers)}: ${a.status}`);
      assert.match(a.text, why);
    };
    await refused('GET', '/ui/api/tree', { host: `rebind.example:${port}` }, /is not this daemon/);
    await refused('GET', '/ui/login?code=x', { host: `rebind.example:${port}` }, /is not this daemon/);
    await refused('GET', '/ui/api/tree', { origin: 'http://evil.example' }, /cross-origin/);
    await refused('GET', '/ui/api/tree', { origin: 'http://127.0.0.1:1' }, /cross-origin/);
    await refused('GET', '/ui/', { 'sec-fetch-site': 'cross-site' }, /cross-site/);
    // Another port of the same host is the same site for cookies: refused by its origin.
    await refused('GET', '/ui/api/tree', { 'sec-fetch-site': 'same-site' }, /cross-site/);
    await refused('POST', '/ui/api/v1/worlds', {}, /without an Origin/);
    await refused('POST', '/ui/api/v1/worlds', { origin: 'null' }, /cross-origin/);
    assert.equal((await get('/ui/api/tree', { cookie, host: `localhost:${port}` })).status, 200, 'localhost is this listener too');
    assert.equal((await get('/ui/api/tree', { cookie, 'sec-fetch-site': 'same-origin' })).status, 200);
  });

  it('nothing a client sends to the view breaks the daemon', async () => {
    for (const [path, status] of [
      ['/ui/api/node/%E0%A4%A', 400],
      ['/ui/api/node/w-none', 404],
      ['/ui/api/event/none', 404],
      ['/ui/api/nothing', 404],
      ['/ui/../v1/worlds', 401],
      ['/ui/api/v1/nothing', 404],
      ['/ui/login', 401],
    ] as const) {
      const a = await get(path, { cookie });
      assert.equal(a.status, status, `${path}: ${a.status} ${a.text.slice(0, 200)}`);
    }
    assert.equal((await call({ url: base }, 'DELETE', '/ui/api/tree', { headers: { cookie, origin: base } })).status, 405);
    assert.equal((await get('/ui/', { cookie: `${'x'.repeat(3000)}=; ;;=;${cookie}` })).status, 200);
    assert.equal((await call({ socket: d.socket }, 'GET', '/v1/health')).status, 200);
  });
});

describe('login codes and sessions', () => {
  it('a code expires after two minutes, works once, and sessions end', () => {
    let now = 1_000_000;
    const s = new Sessions(() => now);
    const a = s.mintCode();
    assert.equal(a.expiresAt.getTime(), now + CODE_TTL_MS);
    assert.ok(a.code.length >= 43, '≥ 256 bits, base64url');
    const b = s.mintCode();
    now += CODE_TTL_MS;
    assert.equal(s.redeem(a.code), null, 'expired');
    const c = s.mintCode();
    assert.equal(s.redeem(b.code), null);
    const token = s.redeem(c.code);
    assert.ok(token && s.valid(token));
    assert.equal(s.redeem(c.code), null, 'spent');
    assert.equal(s.valid('forged'), false);
    s.end(token);
    assert.equal(s.valid(token), false);
  });
});
