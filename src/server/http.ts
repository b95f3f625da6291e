/**
 * @module
 * The HTTP request handler shared by the unix socket and TCP listeners: authenticate (TCP only), read the
 * body within its limit, match a route of the action table, parse a JSON body within its depth (json-body.ts),
 * check it against the spec, decode one action, execute it, and write what `reply.ts` maps the outcome to. Streaming actions
 * answer as server-sent events when the client sends `Accept: text/event-stream`. Nothing a client sends can
 * crash the daemon.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidArgumentError } from '../base/errors.js';
import { isSecret } from '../base/secret.js';
import { type E2bCompat, isE2bPath } from '../compat/e2b/index.js';
import { isMorphPath, type MorphCompat } from '../compat/morph/index.js';
import { decodeAction, isStreaming, ROUTES, type WorldAction } from '../protocol/actions.js';
import type { WebView } from '../ui/index.js';
import { DEFAULT_MAX_BODY_BYTES } from './defaults.js';
import type { Executor } from './execute.js';
import { parseJsonBody } from './json-body.js';
import { errorReply, type Reply, resultReply, tooLarge, unauthorized } from './reply.js';
import { Router } from './router.js';
import { OPENAPI, validateBody } from './schema.js';
import { SseStream } from './sse.js';

export type Transport = 'unix' | 'tcp';

export interface HandlerOptions {
  executor: Executor;
  /** Bearer tokens accepted on TCP (the home's token file, and $WORLD_RUNTIME_TOKEN when set). */
  tokens: readonly string[];
  /** @default DEFAULT_MAX_BODY_BYTES */
  maxBodyBytes?: number;
  /** One line per request, for the daemon log. @default none */
  log?: (line: string) => void;
  /** The web view (src/ui), served at /ui on TCP. */
  ui?: WebView;
  /** The E2B-compatible API, served under /e2b on TCP (src/compat/e2b). */
  e2b?: E2bCompat;
  /** The Morph-compatible API, served under /morph on TCP (src/compat/morph). */
  morph?: MorphCompat;
}

const router = new Router(ROUTES);

/** After a 413, read and drop at most this much more of the body before cutting the connection. */
const DRAIN_LIMIT_BYTES = 64 * 1024 * 1024;

export function createHandler(options: HandlerOptions, transport: Transport): (req: IncomingMessage, res: ServerResponse) => void {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const tokens = options.tokens.map((t) => Buffer.from(t));
  return (req, res) => {
    const t0 = performance.now();
    res.on('error', () => {}); // a client that went away is not the daemon's problem
    const e2b = transport === 'tcp' && isE2bPath(req.url) ? options.e2b : undefined;
    const compat = e2b ?? (transport === 'tcp' && isMorphPath(req.url) ? options.morph : undefined);
    (compat ? compat.handle(req, res) : handle(req, res, options.executor, transport, tokens, maxBody, options.ui))
      .catch((err: unknown) => {
        // Reached only when writing itself failed; answer if we still can.
        if (!res.headersSent) writeReply(res, errorReply(err));
        else res.destroy();
      })
      .finally(() => {
        options.log?.(`${new Date().toISOString()} ${transport} ${req.method} ${req.url} ${res.statusCode} ${(performance.now() - t0).toFixed(1)}ms`);
      });
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  executor: Executor,
  transport: Transport,
  tokens: Buffer[],
  maxBody: number,
  ui?: WebView,
): Promise<void> {
  let action: WorldAction;
  let url = new URL(req.url ?? '/', 'http://daemon');
  try {
    // /ui is the web view's, by its session cookie; what it hands back is a /v1 request it authorised.
    if (transport === 'tcp' && ui?.owns(url.pathname)) {
      const v1 = await ui.handle(req, res, url);
      if (v1 === null) return;
      url = v1;
    } else if (transport === 'tcp') authenticate(req, tokens);
    if (req.method === 'GET' && url.pathname === '/v1/openapi.json') {
      writeReply(res, { status: 200, json: OPENAPI });
      return;
    }
    const { route, params } = router.match(req.method ?? 'GET', url.pathname);
    const known = Object.keys(route.query ?? {});
    for (const key of url.searchParams.keys()) {
      if (!known.includes(key)) throw new InvalidArgumentError(`query: unknown parameter ${JSON.stringify(key)} (known: ${known.join(', ') || 'none'})`);
    }
    const raw = route.body === 'none' ? Buffer.alloc(0) : await readBody(req, maxBody);
    let body: unknown;
    if (route.body === 'json') {
      body = parseJsonBody(raw);
      if (route.schema) validateBody(body, route.schema);
    }
    action = decodeAction(route.kind, { params, query: url.searchParams, body, bytes: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) });
  } catch (err) {
    const reply = errorReply(err);
    if (reply.status === 413) {
      // Answer once the client has sent its body: closing while it still writes makes it fail with EPIPE
      // before it can read the 413.
      drainThenClose(req, res, () => writeReply(res, reply));
      return;
    }
    // The body may be unread (e.g. 401): do not leave the connection to parse it as the next request.
    if (!req.complete) res.setHeader('connection', 'close');
    writeReply(res, reply);
    return;
  }

  const wantsStream = isStreaming(action.kind) && (req.headers.accept ?? '').includes('text/event-stream');
  if (!wantsStream) {
    let reply: Reply;
    try {
      reply = resultReply(action.kind, await executor.execute(action, { transport }));
    } catch (err) {
      reply = errorReply(err);
    }
    writeReply(res, reply);
    return;
  }

  const sse = new SseStream(res);
  try {
    const result = await executor.execute(action, {
      transport,
      onStarted: () => sse.start(),
      onOutput: (stream, chunk) => sse.send(stream, { chunk }),
    });
    sse.start();
    sse.send('result', result);
  } catch (err) {
    const reply = errorReply(err);
    if (!sse.started) {
      writeReply(res, reply);
      return;
    }
    sse.send('error', { status: reply.status, ...reply.json });
  }
  sse.end();
}

function authenticate(req: IncomingMessage, tokens: Buffer[]): void {
  const header = req.headers.authorization;
  if (!header) throw unauthorized('missing Authorization: Bearer <token> (TCP always needs the token from <home>/token or $WORLD_RUNTIME_TOKEN)');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized('malformed Authorization header: expected "Bearer <token>"');
  if (!isSecret(m[1], tokens)) throw unauthorized('wrong bearer token');
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit, declared));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        settled = true;
        req.off('data', onData);
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (!settled) resolve(Buffer.concat(chunks));
      settled = true;
    });
    req.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
  });
}

/**
 * Answer a too-large body without resetting the client mid-upload (it could not read the 413 then): read and
 * drop the rest up to a cap, then `answer` and close.
 */
function drainThenClose(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
  res.setHeader('connection', 'close');
  if (req.complete) {
    answer();
    return;
  }
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_LIMIT_BYTES) req.socket.destroy();
  });
  req.once('end', answer);
  req.resume();
}

function writeReply(res: ServerResponse, reply: Reply): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  if ('bytes' in reply) {
    res.writeHead(reply.status, { 'content-length': reply.bytes.byteLength });
    res.end(reply.bytes);
    return;
  }
  // Ledger amounts are bigints; results carry them as strings already, this only guards error details.
  const text = `${JSON.stringify(reply.json, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`;
  res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
