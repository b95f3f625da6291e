/**
 * @module
 * The E2B-compatible API: the daemon's loopback TCP listener hands every request under `/e2b` to
 * {@link E2bCompat.handle}, so that the unmodified `e2b` and `@e2b/code-interpreter` SDKs run against
 * world-runtime with `E2B_API_URL=E2B_SANDBOX_URL=http://127.0.0.1:PORT/e2b` and the daemon's token as
 * `E2B_API_KEY` (docs/e2b.md).
 *
 * One URL carries three surfaces, told apart as E2B's own proxy does:
 * - no `E2b-Sandbox-Id` header: the control plane (control.ts), authenticated by `X-API-KEY` (or
 *   `Authorization: Bearer`) holding a daemon token;
 * - `E2b-Sandbox-Id` and `E2b-Sandbox-Port: 49983`: that sandbox's envd (Connect RPC and REST);
 * - `E2b-Sandbox-Port: 49999`: that sandbox's code interpreter.
 * Sandbox traffic is authenticated by the sandbox's own access token, issued by the control plane as
 * `envdAccessToken` and `trafficAccessToken` (the SDK sends it as `X-Access-Token` or
 * `E2B-Traffic-Access-Token`): one tenant's token reaches that sandbox only, and a request without it is
 * refused (401) whatever the sandbox id.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSecret } from '../../base/secret.js';
import type { WorldRuntime } from '../../index.js';
import { ConnectError, END_STREAM, errorJson, FrameReader, frame, parseMessage, ServerStream, toConnectError, writeUnary, writeUnaryError } from './connect.js';
import { handleControl } from './control.js';
import { download, filesystemUnary, upload, watchDir } from './envd-files.js';
import { connect as connectProcess, processUnary, start, streamInput } from './envd-process.js';
import { handleInterpreter } from './interpreter.js';
import { ApiError, apiError, readBody, sendApiError, sendJson } from './rest.js';
import { Sandboxes, type SandboxRecord } from './sandboxes.js';

export const PREFIX = '/e2b';
export const ENVD_PORT = '49983';
export const INTERPRETER_PORT = '49999';
/** Uploads through /files may be this large even when the daemon's JSON body limit is smaller. */
const MIN_UPLOAD_BYTES = 256 << 20;

/** True for `/e2b` and everything under `/e2b/`. */
export function isE2bPath(url: string | undefined): boolean {
  if (!url) return false;
  const path = url.split('?')[0] as string;
  return path === PREFIX || path.startsWith(`${PREFIX}/`);
}

export interface E2bOptions {
  runtime: WorldRuntime;
  /** Daemon tokens: each is a valid E2B API key. */
  tokens: readonly string[];
  /** Most live worlds at once (the daemon's limit); more answer 429. */
  maxWorlds: number;
  /** Largest JSON request body. */
  maxBodyBytes: number;
  log?: (line: string) => void;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** After a 413, read and drop at most this much more of the body before cutting the connection. */
const DRAIN_LIMIT_BYTES = 64 << 20;

function drainThenAnswer(req: IncomingMessage, answer: () => void): void {
  let dropped = 0;
  req.removeAllListeners('data');
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.once('end', answer);
  req.resume();
}

const STREAMING = new Set(['process.Process/Start', 'process.Process/Connect', 'filesystem.Filesystem/WatchDir']);

export class E2bCompat {
  readonly sandboxes: Sandboxes;
  private readonly keys: Buffer[];
  private readonly log: (line: string) => void;

  constructor(private readonly opts: E2bOptions) {
    this.log = opts.log ?? (() => {});
    this.keys = opts.tokens.map((t) => Buffer.from(t));
    this.sandboxes = new Sandboxes(opts.runtime, { maxWorlds: opts.maxWorlds, log: this.log });
  }

  /** Serve one request under `/e2b`. Never rejects: every failure becomes an answer. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {});
    try {
      const url = new URL(req.url ?? '/', 'http://daemon');
      const path = url.pathname.slice(PREFIX.length) || '/';
      const method = req.method ?? 'GET';
      const sandboxId = header(req, 'e2b-sandbox-id');
      if (sandboxId === undefined) {
        this.authenticate(req);
        await handleControl(this.sandboxes, { req, res, method, path, query: url.searchParams, maxBodyBytes: this.opts.maxBodyBytes });
      } else {
        await this.sandboxTraffic(req, res, sandboxId, method, path, url.searchParams);
      }
    } catch (err) {
      const e = err instanceof ApiError ? err : apiError(err);
      if (e.status === 500) this.log(`e2b: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (e.status === 413 && !req.complete) {
        // Answer once the client has sent its body: cut off mid-upload, it could not read the 413.
        drainThenAnswer(req, () => sendApiError(res, e));
        return;
      }
      // The body may be unread (a 401): do not let the connection parse it as the next request.
      if (!req.complete) res.setHeader('connection', 'close');
      sendApiError(res, e);
    }
  }

  async close(): Promise<void> {
    await this.sandboxes.close();
  }

  private authenticate(req: IncomingMessage): void {
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header(req, 'authorization') ?? '')?.[1];
    const key = header(req, 'x-api-key') ?? bearer;
    if (key === undefined) throw new ApiError(401, 'missing API key: send the daemon token (<home>/token) as X-API-KEY (E2B_API_KEY)');
    if (!isSecret(key, this.keys)) throw new ApiError(401, 'Invalid API key: E2B_API_KEY must be the daemon token (<home>/token)');
  }

  private async sandboxTraffic(req: IncomingMessage, res: ServerResponse, id: string, method: string, path: string, q: URLSearchParams): Promise<void> {
    const rec = this.sandboxes.find(id);
    if (!rec) throw new ApiError(502, `The sandbox ${id} was not found (it was killed, timed out, or never existed)`);
    const token = Buffer.from(rec.token);
    if (!isSecret(header(req, 'x-access-token'), [token]) && !isSecret(header(req, 'e2b-traffic-access-token'), [token])) {
      throw new ApiError(401, `sandbox ${id}: missing or wrong access token (X-Access-Token: the envdAccessToken this sandbox was created with)`);
    }
    if (rec.state === 'paused') {
      if (!rec.autoResume) throw new ApiError(502, `sandbox ${id} is paused: connect to it to resume it`);
      await this.sandboxes.resume(rec, undefined);
    }
    const port = header(req, 'e2b-sandbox-port') ?? ENVD_PORT;
    if (port === INTERPRETER_PORT) return handleInterpreter(rec, req, res, method, path, this.opts.maxBodyBytes);
    if (port !== ENVD_PORT) {
      throw new ApiError(502, `port ${port} of sandbox ${id} is not open: world-runtime forwards no sandbox ports (only envd, ${ENVD_PORT}, and the code interpreter, ${INTERPRETER_PORT})`);
    }
    return this.envd(rec, req, res, method, path, q);
  }

  private async envd(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, method: string, path: string, q: URLSearchParams): Promise<void> {
    const rpc = /^\/(process\.Process|filesystem\.Filesystem)\/([A-Za-z]+)$/.exec(path);
    if (rpc) return this.rpc(rec, req, res, method, rpc[1] as string, rpc[2] as string);
    if (method === 'GET' && path === '/health') return sendJson(res, 204, null);
    if (method === 'GET' && path === '/envs') return sendJson(res, 200, rec.envVars);
    if (method === 'GET' && path === '/metrics') return this.metrics(rec, res);
    if (path === '/files' && method === 'GET') return download(rec, req, res, q);
    if (path === '/files' && method === 'POST') return upload(rec, req, res, q, Math.max(MIN_UPLOAD_BYTES, this.opts.maxBodyBytes));
    if (path === '/files/compose') throw new ApiError(400, 'POST /files/compose is not served by world-runtime: write the whole file');
    throw new ApiError(404, `envd has no ${method} ${path}`);
  }

  private async metrics(rec: SandboxRecord, res: ServerResponse): Promise<void> {
    const world = rec.world;
    const u = world ? (await this.opts.runtime.usage([world])).get(world.id) : undefined;
    const memTotal = (world?.memoryMib ?? 0) * 1024 * 1024;
    const diskTotal = (world?.diskMib ?? 0) * 1024 * 1024;
    sendJson(res, 200, {
      ts: Math.floor(Date.now() / 1000),
      cpu_count: world?.vcpus ?? 1,
      cpu_used_pct: 0,
      mem_total: memTotal,
      mem_used: u?.memoryBytes ?? 0,
      mem_cache: 0,
      mem_total_mib: Math.floor(memTotal / 1048576),
      mem_used_mib: Math.floor((u?.memoryBytes ?? 0) / 1048576),
      disk_used: u?.diskBytes ?? 0,
      disk_total: diskTotal,
    });
  }

  private async rpc(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, method: string, service: string, name: string): Promise<void> {
    const full = `${service}/${name}`;
    const type = String(header(req, 'content-type') ?? '');
    if (method !== 'POST') {
      res.setHeader('allow', 'POST');
      return writeUnaryError(res, new ConnectError('unimplemented', `${full} takes POST`));
    }
    if (full === 'process.Process/StreamInput') return this.streamInput(rec, req, res, type);
    if (STREAMING.has(full)) {
      if (!type.startsWith('application/connect+json')) {
        res.writeHead(415, { 'content-type': 'text/plain' });
        return void res.end('world-runtime serves Connect with the JSON codec only (application/connect+json)');
      }
      const body = await readBody(req, this.opts.maxBodyBytes);
      const stream = new ServerStream(res);
      const cut = () => stream.cut();
      rec.live.add(cut);
      stream.onClose(() => rec.live.delete(cut));
      try {
        const frames = new FrameReader(this.opts.maxBodyBytes).push(body);
        if (frames.length !== 1) throw new ConnectError('invalid_argument', 'a server-streaming call takes exactly one request message');
        const call = { rec, req, msg: parseMessage((frames[0] as { data: Buffer }).data) };
        if (full === 'process.Process/Start') await start(call, stream);
        else if (full === 'process.Process/Connect') await connectProcess(call, stream);
        else await watchDir(call, stream);
      } catch (err) {
        stream.end(toConnectError(err));
      }
      return;
    }
    try {
      if (!type.startsWith('application/json')) throw new ConnectError('unimplemented', 'world-runtime serves Connect with the JSON codec only (application/json)');
      const msg = parseMessage(await readBody(req, this.opts.maxBodyBytes));
      const call = { rec, req, msg };
      const out = service === 'process.Process' ? await processUnary(name, call) : await filesystemUnary(name, call);
      if (out === undefined) throw new ConnectError('unimplemented', `${full} is not a method of envd`);
      writeUnary(res, out);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      writeUnaryError(res, toConnectError(err));
    }
  }

  private async streamInput(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, type: string): Promise<void> {
    let err: ConnectError | undefined;
    try {
      if (!type.startsWith('application/connect+json')) throw new ConnectError('unimplemented', 'StreamInput takes application/connect+json');
      await streamInput(rec, req, this.opts.maxBodyBytes);
    } catch (e) {
      err = toConnectError(e);
    }
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.end(Buffer.concat([...(err ? [] : [frame(0, {})]), frame(END_STREAM, err ? { error: errorJson(err) } : {})]));
  }
}
