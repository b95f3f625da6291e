/**
 * @module
 * The Morph-compatible API: the daemon's loopback TCP listener hands every request under `/morph` to
 * {@link MorphCompat.handle}, so that Morph's TypeScript SDK (`new MorphCloudClient({baseUrl:
 * 'http://127.0.0.1:PORT/morph', apiKey: <daemon token>})`) starts, execs, snapshots and branches
 * world-runtime worlds (docs/remote.md, "morph"). What needs SSH (ssh(), sync(), ssh keys) or an exposed port
 * answers 501 naming that limit: world-runtime runs no SSH gateway and forwards no ports.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSecret } from '../../base/secret.js';
import type { WorldRuntime } from '../../index.js';
import { ApiError, apiError, jsonObject, readBody, sendError } from './http.js';
import { Registry } from './registry.js';
import { route } from './routes.js';

export const MORPH_PREFIX = '/morph';

/** True for `/morph` and everything under `/morph/`. */
export function isMorphPath(url: string | undefined): boolean {
  if (!url) return false;
  const path = url.split('?')[0] as string;
  return path === MORPH_PREFIX || path.startsWith(`${MORPH_PREFIX}/`);
}

export interface MorphOptions {
  runtime: WorldRuntime;
  /** Daemon tokens: each is a valid Morph API key. */
  tokens: readonly string[];
  /** Most live worlds (and kept snapshots) at once; more answer 429. */
  maxWorlds: number;
  maxBodyBytes: number;
  log?: (line: string) => void;
}

export class MorphCompat {
  readonly registry: Registry;
  private readonly keys: Buffer[];
  private readonly log: (line: string) => void;

  constructor(private readonly opts: MorphOptions) {
    this.log = opts.log ?? (() => {});
    this.keys = opts.tokens.map((t) => Buffer.from(t));
    this.registry = new Registry(opts.runtime, { maxWorlds: opts.maxWorlds, log: this.log });
  }

  /** Serve one request under `/morph`. Never rejects: every failure becomes an answer. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {});
    try {
      this.authenticate(req);
      const url = new URL(req.url ?? '/', 'http://daemon');
      const path = url.pathname.slice(MORPH_PREFIX.length).replace(/\/+$/, '') || '/';
      const method = req.method ?? 'GET';
      const body = method === 'POST' ? jsonObject(await readBody(req, this.opts.maxBodyBytes)) : {};
      await route(this.registry, { req, res, method, path, query: url.searchParams, body });
    } catch (err) {
      const e = apiError(err);
      if (e.status === 500) this.log(`morph: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // The body may be unread (a 401, a 413): do not let the connection parse it as the next request.
      if (!req.complete) res.setHeader('connection', 'close');
      sendError(res, e);
    }
  }

  close(): Promise<void> {
    return this.registry.close();
  }

  private authenticate(req: IncomingMessage): void {
    const h = req.headers.authorization;
    const key = /^Bearer\s+(\S+)\s*$/i.exec(h ?? '')?.[1];
    if (key === undefined) throw new ApiError(401, 'missing Authorization: Bearer <key>: the API key is the daemon token (<home>/token)');
    if (!isSecret(key, this.keys)) throw new ApiError(401, 'invalid API key: it must be the daemon token (<home>/token)');
  }
}
