/**
 * @module
 * The code interpreter's server (port 49999 of a sandbox: e2b-dev/code-interpreter template/server) over
 * the guest's cells (guest-cell.ts): POST /execute answers one JSON object per line (stdout, stderr,
 * results, error, number_of_executions, end_of_execution), and /contexts creates, lists, restarts and
 * removes contexts. Python is the only language. Errors are plain text, as that server answers them.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { toConnectError } from './connect.js';
import { resolvePath } from './envd-paths.js';
import { guestCall } from './guest.js';
import { ApiError, jsonObject, readBody, sendJson, sendText } from './rest.js';
import type { ContextInfo, SandboxRecord } from './sandboxes.js';

/** A cell is interrupted after this long, as `World.exec` is by default. */
export const CELL_TIMEOUT_MS = 300_000;
/** Output written within this long is sent as one stdout/stderr message, as a notebook kernel batches it. */
const COALESCE_MS = 10;
const KEEPALIVE_MS = 5000;

interface CellAnswer {
  results: Record<string, unknown>[];
  error: { name: string; value: string; traceback: string } | null;
  count: number;
}

function language(raw: unknown): string {
  const l = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (l === '' || l === 'python') return 'python';
  const name = l === 'js' ? 'javascript' : l === 'ts' ? 'typescript' : l;
  throw new ApiError(500, `Failed to create context: world-runtime runs Python only; language "${name}" is not supported`);
}

function optString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ApiError(422, `${key} must be a string`);
  return v;
}

function envVars(body: Record<string, unknown>): Record<string, string> {
  const v = body.env_vars;
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(422, 'env_vars must be an object of strings');
  for (const x of Object.values(v)) if (typeof x !== 'string') throw new ApiError(422, 'env_vars must be an object of strings');
  return v as Record<string, string>;
}

export async function handleInterpreter(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, method: string, path: string, maxBody: number): Promise<void> {
  try {
    const body = async () => jsonObject(method === 'POST' ? await readBody(req, maxBody) : Buffer.alloc(0));
    if (method === 'GET' && path === '/health') return sendJson(res, 200, 'OK');
    if (method === 'POST' && path === '/execute') return await execute(rec, req, res, await body());
    if (path === '/contexts' && method === 'POST') return await createContext(rec, res, await body());
    if (path === '/contexts' && method === 'GET') return sendJson(res, 200, contextList(rec));
    const m = /^\/contexts\/([^/]+)(\/restart)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1] as string);
      if (id !== 'default' && !rec.contexts.has(id)) throw new ApiError(404, `Context ${id} not found`);
      const world = rec.running();
      if (m[2] && method === 'POST') {
        await guestCall(world, 'ctx_restart', { id }, { globals: true });
        return sendJson(res, 200, null);
      }
      if (!m[2] && method === 'DELETE') {
        if (id === 'default') throw new ApiError(400, 'the default context cannot be removed (restart it instead)');
        await guestCall(world, 'ctx_remove', { id });
        rec.contexts.delete(id);
        return sendJson(res, 200, null);
      }
    }
    throw new ApiError(404, `the code interpreter has no ${method} ${path}`);
  } catch (err) {
    if (err instanceof ApiError) return sendText(res, err.status, err.message);
    const e = toConnectError(err);
    if (e.code === 'unavailable') return sendText(res, 502, `The sandbox is not running: ${e.message}`);
    return sendText(res, e.code === 'not_found' ? 404 : e.code === 'invalid_argument' ? 400 : 500, e.message);
  }
}

function contextList(rec: SandboxRecord): ContextInfo[] {
  return [{ id: 'default', language: 'python', cwd: '/world' }, ...rec.contexts.values()];
}

async function createContext(rec: SandboxRecord, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const lang = language(body.language);
  const cwd = resolvePath(optString(body, 'cwd') ?? '/home/user');
  const id = randomUUID();
  await guestCall(rec.running(), 'ctx_new', { id, cwd });
  const ctx: ContextInfo = { id, language: lang, cwd };
  rec.contexts.set(id, ctx);
  sendJson(res, 200, ctx);
}

async function execute(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, body: Record<string, unknown>): Promise<void> {
  const code = body.code;
  if (typeof code !== 'string') throw new ApiError(422, 'code (a string) is required');
  const contextId = optString(body, 'context_id');
  const lang = optString(body, 'language');
  if (contextId && lang) throw new ApiError(400, 'Only one of context_id or language can be provided');
  if (lang) language(lang);
  const ctx = contextId ?? 'default';
  if (ctx !== 'default' && !rec.contexts.has(ctx)) throw new ApiError(404, `Context ${ctx} not found`);
  const env = envVars(body);
  const world = rec.running();

  // A quick cell is answered in one write; a cell that streams output starts the answer with its first line.
  let pending: string[] | null = [];
  const line = (obj: unknown) => {
    if (res.destroyed || res.writableEnded) return;
    if (pending) pending.push(`${JSON.stringify(obj)}\n`);
    else res.write(`${JSON.stringify(obj)}\n`);
  };
  const stream = () => {
    if (!pending || res.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(pending.join(''));
    pending = null;
  };
  const finish = () => {
    if (res.destroyed || res.writableEnded) return;
    if (!pending) return void res.end();
    const body = pending.join('');
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const out = new Coalescer((s, text) => {
    line({ type: s, text, timestamp: new Date().toISOString() });
    stream();
  });
  const keepalive = setInterval(() => {
    line({ type: 'keepalive' });
    stream();
  }, KEEPALIVE_MS);
  // The headers must not wait for a long silent cell: the SDK gives up on an answer without them.
  const headersBy = setTimeout(stream, 1000);
  const cut = () => res.destroy();
  rec.live.add(cut);
  req.socket.setNoDelay(true);
  try {
    const answer = await guestCall<CellAnswer>(world, 'cell', { ctx, code, env }, { globals: true, timeoutMs: CELL_TIMEOUT_MS, onOutput: (s, chunk) => out.push(s, chunk) });
    out.flush();
    for (const r of answer.results) line({ type: 'result', ...r });
    if (answer.error) line({ type: 'error', ...answer.error });
    line({ type: 'number_of_executions', execution_count: answer.count });
    line({ type: 'end_of_execution' });
    finish();
  } catch (err) {
    out.flush();
    const e = toConnectError(err);
    if (e.code === 'unavailable' || world.state !== 'running') {
      res.destroy(); // as a dying sandbox drops it: the SDK asks whether the sandbox still runs
      return;
    }
    line({ type: 'error', name: 'WorldRuntimeError', value: e.message, traceback: '' });
    line({ type: 'end_of_execution' });
    finish();
  } finally {
    out.close();
    clearInterval(keepalive);
    clearTimeout(headersBy);
    rec.live.delete(cut);
  }
}

/** Joins output chunks written close together into one message per stream, keeping their order. */
class Coalescer {
  private stream: 'stdout' | 'stderr' | null = null;
  private text = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly emit: (stream: 'stdout' | 'stderr', text: string) => void) {}

  push(stream: 'stdout' | 'stderr', chunk: string): void {
    if (this.stream !== stream) this.flush();
    this.stream = stream;
    this.text += chunk;
    this.timer ??= setTimeout(() => this.flush(), COALESCE_MS);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.stream && this.text) this.emit(this.stream, this.text);
    this.stream = null;
    this.text = '';
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
