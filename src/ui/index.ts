/**
 * @module
 * The daemon's web view, at /ui on its loopback TCP listener: the page and its scripts, the login that
 * trades a one-time code for a session cookie, the view's own JSON (the tree, a node, an event, the
 * capacity) and its live update stream. `/ui/api/v1/…` is the daemon's /v1 API for the page: the view
 * checks the session and the origin and hands the request back as `/v1/…`, to be routed, checked, decoded
 * and executed exactly as any /v1 request (the same action table and executor); /v1 itself keeps asking TCP
 * callers for the bearer token.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { VERSION } from '../base/version.js';
import type { WorldRuntime } from '../core/runtime.js';
import { type Asset, loadAssets } from './assets.js';
import { clearedCookie, cookieName, readCookie, refusal, Sessions, sessionCookie } from './auth.js';
import { capacity, eventDetails, nodeDetails } from './details.js';
import { Feed } from './feed.js';
import { send, sendFault, sendJson, sendNotice } from './respond.js';
import { balances, eventNode, treeNodes } from './tree.js';
import type { TreeSnapshot } from './web/model.js';

export interface WebViewOptions {
  runtime: WorldRuntime;
  /** The daemon's --max-worlds, for the capacity panel. */
  maxWorlds: number;
}

const LOGIN_AGAIN = 'Run `world-runtime ui` in a terminal for a new login link (it is good for one visit, within two minutes).';

export class WebView {
  readonly sessions = new Sessions();
  private readonly feed: Feed;
  private readonly assets: Map<string, Asset> = loadAssets();
  /** The Host values this listener answers to; empty until it listens. */
  private hosts: string[] = [];
  private cookie = cookieName(0);

  constructor(private readonly options: WebViewOptions) {
    this.feed = new Feed(options.runtime);
  }

  /** Where the view is served: the TCP listener's address (Host and Origin are checked against it). */
  listening(host: string, port: number): void {
    const name = isIP(host) === 6 ? `[${host}]` : host;
    this.hosts = [`${name}:${port}`, `localhost:${port}`];
    this.cookie = cookieName(port);
  }

  /** A one-time login code (see auth.ts). */
  mintCode(): { code: string; expiresAt: Date } {
    return this.sessions.mintCode();
  }

  /** Whether `path` is the view's. */
  owns(path: string): boolean {
    return path === '/ui' || path.startsWith('/ui/');
  }

  /**
   * Answer a request for /ui…, or hand back the /v1 URL of an authorised `/ui/api/v1/…` request for the
   * daemon's API handling to answer. Null when answered here.
   */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<URL | null> {
    const path = url.pathname;
    const api = path.startsWith('/ui/api/');
    const refused = refusal(req, this.hosts);
    if (refused) {
      if (api) sendFault(res, 403, 'FORBIDDEN', refused);
      else sendNotice(res, 403, 'Refused', refused);
      return null;
    }
    if (path === '/ui/login') {
      this.login(req, res, url);
      return null;
    }
    const token = readCookie(req, this.cookie);
    if (!this.sessions.valid(token)) {
      if (api) sendFault(res, 401, 'UNAUTHORIZED', `no session: ${LOGIN_AGAIN}`);
      else sendNotice(res, 401, 'Not signed in', LOGIN_AGAIN);
      return null;
    }
    if (path.startsWith('/ui/api/v1/')) return new URL(`${path.slice('/ui/api'.length)}${url.search}`, url);
    try {
      if (api) await this.api(req, res, path.slice('/ui/api/'.length), token);
      else this.file(req, res, path);
    } catch (err) {
      if (!res.headersSent) sendFault(res, 500, 'INTERNAL', `internal error: ${err instanceof Error ? err.message : String(err)}`);
      else res.destroy();
    }
    return null;
  }

  close(): void {
    this.feed.close();
  }

  private login(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const code = url.searchParams.get('code') ?? '';
    // The code must not reach the daemon's request log, even spent.
    req.url = '/ui/login';
    if (req.method !== 'GET') {
      sendNotice(res, 405, 'Method not allowed', 'Open the login link in a browser.', { allow: 'GET' });
      return;
    }
    const token = code ? this.sessions.redeem(code) : null;
    if (!token) {
      sendNotice(res, 401, 'This login link is spent or has expired', LOGIN_AGAIN);
      return;
    }
    send(res, 303, '', 'text/plain; charset=utf-8', { location: '/ui/', 'set-cookie': sessionCookie(this.cookie, token) });
  }

  private file(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendNotice(res, 405, 'Method not allowed', `${req.method} ${path}`, { allow: 'GET, HEAD' });
      return;
    }
    const asset = this.assets.get(path === '/ui' ? '' : path.slice('/ui/'.length));
    if (!asset) sendNotice(res, 404, 'Not found', `${path} is not part of the web view.`);
    else send(res, 200, req.method === 'HEAD' ? Buffer.alloc(0) : asset.body, asset.type);
  }

  private async api(req: IncomingMessage, res: ServerResponse, route: string, token: string | null): Promise<void> {
    const rt = this.options.runtime;
    const [name, ...rest] = route.split('/');
    let arg: string;
    try {
      arg = decodeURIComponent(rest.join('/'));
    } catch {
      sendFault(res, 400, 'INVALID_ARGUMENT', `malformed percent-encoding in /ui/api/${route}`);
      return;
    }
    const method = name === 'logout' ? 'POST' : 'GET';
    if (req.method !== method) {
      sendFault(res, 405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on /ui/api/${route} (allowed: ${method})`, { allow: method });
      return;
    }
    switch (name) {
      case 'tree': {
        // The sequence before reading: an update that races the reads is sent again, never lost.
        const seq = this.feed.seq;
        const events = await rt.events();
        const [{ nodes, truncated }, bal] = await Promise.all([treeNodes(rt, events), balances(rt)]);
        const tree: TreeSnapshot = {
          seq,
          daemon: {
            pid: process.pid,
            version: VERSION,
            driver: rt.driver.name,
            home: rt.home,
            startedAt: this.feed.startedAt.toISOString(),
            maxWorlds: this.options.maxWorlds,
          },
          nodes,
          events: events.map(eventNode),
          balances: bal,
          truncated,
        };
        sendJson(res, 200, tree);
        return;
      }
      case 'events':
        if (!this.feed.open(req, res)) sendFault(res, 503, 'CAPACITY', 'too many open update streams: close some of the view’s tabs');
        return;
      case 'node': {
        const d = await nodeDetails(rt, this.feed, arg);
        if (d) sendJson(res, 200, d);
        else sendFault(res, 404, 'NOT_FOUND', `no world or snapshot ${JSON.stringify(arg)} in this daemon or its record`);
        return;
      }
      case 'event': {
        const d = await eventDetails(rt, arg);
        if (d) sendJson(res, 200, d);
        else sendFault(res, 404, 'NOT_FOUND', `no push-down event ${JSON.stringify(arg)} in the ledger`);
        return;
      }
      case 'capacity':
        sendJson(res, 200, await capacity(rt, this.options.maxWorlds));
        return;
      case 'logout':
        this.sessions.end(token);
        send(res, 204, '', 'text/plain; charset=utf-8', { 'set-cookie': clearedCookie(this.cookie) });
        return;
      default:
        sendFault(res, 404, 'NOT_FOUND', `no route /ui/api/${route}`);
    }
  }
}
