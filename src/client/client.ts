/**
 * @module
 * `DaemonClient`: talks to a running daemon over its unix socket or loopback TCP (with the bearer token).
 * `dispatch(action)` sends one `WorldAction` (the action table, src/protocol/actions.ts, says how) and
 * resolves with its typed result, or rejects with the error the daemon answered (errors.ts). The CLI is
 * built on it. It speaks to the daemon only over HTTP: nothing here imports the daemon's code.
 *
 * @example
 * ```ts
 * const client = new DaemonClient({ socketPath: homePaths(resolveHome()).socket });
 * const w = await client.dispatch({ kind: 'world.create' });
 * await client.dispatch({ kind: 'world.exec', id: w.id, code: 'print(1)' }, { onOutput: (s, c) => process.stdout.write(c) });
 * ```
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { env } from '../base/config.js';
import { WorldRuntimeError } from '../base/errors.js';
import { type ActionKind, type ActionOf, isStreaming, requestFor, type ResultOf } from '../protocol/actions.js';
import { isLoopback } from '../protocol/endpoint.js';
import type { WireRequest } from '../protocol/wire.js';
import { DaemonUnreachableError, faultToError } from './errors.js';
import { parseEvents } from './sse.js';

export interface ClientOptions {
  /** The daemon's unix socket (`homePaths(home).socket`). Used unless `url` is given. */
  socketPath?: string;
  /** `http://127.0.0.1:PORT` (loopback only). Needs `token`. */
  url?: string;
  /** Bearer token for TCP. @default $WORLD_RUNTIME_TOKEN */
  token?: string;
}

export interface DispatchOptions {
  /** Stream output of exec/run as it arrives (server-sent events). */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  signal?: AbortSignal;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class DaemonClient {
  private readonly target: { socketPath: string } | { host: string; port: number };
  readonly where: string;
  private readonly token: string | undefined;

  constructor(options: ClientOptions) {
    this.token = options.token ?? env('WORLD_RUNTIME_TOKEN');
    if (options.url) {
      const u = new URL(options.url);
      const host = u.hostname.replace(/^\[|\]$/g, '');
      if (u.protocol !== 'http:') throw new WorldRuntimeError('INVALID_ARGUMENT', `--url: expected http://127.0.0.1:PORT, got ${options.url}`);
      if (!isLoopback(host) && host !== 'localhost')
        throw new WorldRuntimeError('INVALID_ARGUMENT', `--url: the daemon listens on loopback only, got host ${host}`);
      this.target = { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(u.port || 80) };
      this.where = options.url;
    } else if (options.socketPath) {
      this.target = { socketPath: options.socketPath };
      this.where = options.socketPath;
    } else {
      throw new WorldRuntimeError('INVALID_ARGUMENT', 'DaemonClient: give socketPath or url');
    }
  }

  get isTcp(): boolean {
    return !('socketPath' in this.target);
  }

  /** Send one action; resolve with its result. */
  async dispatch<K extends ActionKind>(action: ActionOf<K>, options: DispatchOptions = {}): Promise<ResultOf<K>> {
    const wire = requestFor(action);
    const stream = options.onOutput !== undefined && isStreaming(action.kind);
    if (stream) return (await this.stream(wire, options.onOutput as NonNullable<DispatchOptions['onOutput']>, options.signal)) as ResultOf<K>;
    const res = await this.request(wire, options.signal);
    if (res.status >= 400) throw faultToError(res.status, res.body);
    const type = String(res.headers['content-type'] ?? '');
    if (!type.startsWith('application/json')) return new Uint8Array(res.body) as ResultOf<K>;
    return JSON.parse(res.body.toString('utf8')) as ResultOf<K>;
  }

  /** One request, the whole response buffered. Rejects with `DaemonUnreachableError` when nothing answers. */
  request(wire: WireRequest, signal?: AbortSignal, extraHeaders: Record<string, string> = {}): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      const req = this.open(wire, extraHeaders, signal, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectError(err)));
    });
  }

  private stream(wire: WireRequest, onOutput: NonNullable<DispatchOptions['onOutput']>, signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const req = this.open(wire, { accept: 'text/event-stream' }, signal, (res) => {
        const type = String(res.headers['content-type'] ?? '');
        if (!type.startsWith('text/event-stream')) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            if ((res.statusCode ?? 0) >= 400) reject(faultToError(res.statusCode ?? 0, body));
            else resolve(JSON.parse(body.toString('utf8')));
          });
          return;
        }
        let settled = false;
        parseEvents(res, (event, data) => {
          if (event === 'stdout' || event === 'stderr') onOutput(event, (data as { chunk: string }).chunk);
          else if (event === 'result') {
            settled = true;
            resolve(data);
          } else if (event === 'error') {
            settled = true;
            const d = data as { status?: number };
            reject(faultToError(d.status ?? 500, data));
          }
        });
        res.on('end', () => {
          if (!settled) reject(new WorldRuntimeError('DRIVER', 'the daemon closed the event stream before the result (did it stop?)'));
        });
        res.on('error', reject);
      });
      req.on('error', (err: NodeJS.ErrnoException) => reject(this.connectError(err)));
    });
  }

  private open(wire: WireRequest, extra: Record<string, string>, signal: AbortSignal | undefined, onResponse: (res: IncomingMessage) => void) {
    const body = wire.bytes ? Buffer.from(wire.bytes) : wire.json !== undefined ? Buffer.from(JSON.stringify(wire.json)) : undefined;
    const headers: Record<string, string | number> = { ...extra };
    if (body) {
      headers['content-type'] = wire.bytes ? 'application/octet-stream' : 'application/json';
      headers['content-length'] = body.length;
    }
    if (this.isTcp && this.token) headers.authorization = `Bearer ${this.token}`;
    const req = httpRequest({ ...this.target, method: wire.method, path: wire.path, headers, ...(signal ? { signal } : {}) }, onResponse);
    req.end(body);
    return req;
  }

  private connectError(err: NodeJS.ErrnoException): Error {
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE')
      return new DaemonUnreachableError(this.where, err);
    return err;
  }
}
