/**
 * @module
 * E2B's control plane (spec/openapi.yml, the operations the SDKs call) over the sandbox registry. Paths are
 * those after the `/e2b` prefix; the API key was checked by the caller. E2B endpoints world-runtime does
 * not serve (templates, volumes, secrets, teams, logs) answer 400 with a message naming the limit; paths
 * E2B does not have answer 404.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  checkNetwork,
  detailJson,
  listedJson,
  metricJson,
  optBool,
  optInt,
  parseCreate,
  refuseUnknown,
  sandboxJson,
  snapshotJson,
  snapshotName,
  timeoutS,
} from './control-shapes.js';
import { ApiError, jsonObject, readBody, sendJson } from './rest.js';
import { DEFAULT_TEMPLATES, DEFAULT_TIMEOUT_S, type SandboxRecord, type Sandboxes } from './sandboxes.js';

const UNSUPPORTED: [RegExp, string][] = [
  [/^\/(v[23]\/)?templates(\/|$)/, 'world-runtime builds no templates: sandboxes start from the default templates or from snapshots'],
  [/^\/volumes(\/|$)/, 'world-runtime has no volumes: a world has its own files only'],
  [/^\/secrets(\/|$)/, 'world-runtime stores no secrets'],
  [/^\/teams(\/|$)/, 'world-runtime has no teams: the daemon token is the only API key'],
  [/^\/(v2\/)?sandboxes\/[^/]+\/logs$/, 'world-runtime keeps no sandbox logs'],
  [/^\/(access-tokens|api-keys)(\/|$)/, 'world-runtime has no access tokens or API keys other than the daemon token'],
  [/^\/sandboxes\/metrics$/, 'GET /sandboxes/metrics is not served: ask /sandboxes/{sandboxID}/metrics'],
];

export interface ControlRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  maxBodyBytes: number;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new ApiError(400, `malformed URL encoding in ${JSON.stringify(part)}`);
  }
}

export async function handleControl(sb: Sandboxes, c: ControlRequest): Promise<void> {
  const { method, path } = c;
  const body = async () => jsonObject(method === 'GET' || method === 'DELETE' ? Buffer.alloc(0) : await readBody(c.req, c.maxBodyBytes));
  if (method === 'GET' && path === '/health') return sendJson(c.res, 204, null);
  if (method === 'POST' && (path === '/sandboxes' || path === '/v2/sandboxes')) return create(sb, c, await body());
  if (method === 'GET' && path === '/sandboxes') return list(sb, c, true);
  if (method === 'GET' && path === '/v2/sandboxes') return list(sb, c, false);
  if (method === 'GET' && path === '/snapshots') return listSnapshots(sb, c);
  let m = /^\/templates\/([^/]+)$/.exec(path);
  if (m && method === 'DELETE') return deleteTemplate(sb, c, decode(m[1] as string));
  for (const [re, why] of UNSUPPORTED) if (re.test(path)) throw new ApiError(400, `${method} ${path}: ${why}`);
  m = /^\/(?:v2\/)?sandboxes\/([^/]+)(\/[a-z]+)?$/.exec(path);
  if (!m) throw new ApiError(404, `world-runtime's E2B API has no ${method} ${path}`);
  const id = decode(m[1] as string);
  const action = m[2] ?? '';
  const rec = sb.get(id);
  switch (`${method} ${action}`) {
    case 'GET ':
      return sendJson(c.res, 200, detailJson(rec));
    case 'DELETE ':
      await sb.kill(rec);
      return sendJson(c.res, 204, null);
    case 'POST /timeout': {
      const b = await body();
      refuseUnknown('timeout', b, ['timeout']);
      const t = timeoutS(b);
      if (t === undefined) throw new ApiError(400, 'timeout is required');
      if (rec.state === 'running') sb.setTimeout(rec, t);
      return sendJson(c.res, 204, null);
    }
    case 'POST /refreshes': {
      const b = await body();
      refuseUnknown('refresh', b, ['duration']);
      const t = optInt(b, 'duration', 0, 3600) ?? 60;
      const left = (rec.endAt.getTime() - Date.now()) / 1000;
      if (rec.state === 'running' && t > left) sb.setTimeout(rec, t);
      return sendJson(c.res, 204, null);
    }
    case 'POST /pause': {
      const b = await body();
      refuseUnknown('pause', b, ['memory']);
      if (optBool(b, 'memory') === false) throw new ApiError(400, 'memory: world-runtime pauses with memory only (a pause is a snapshot of the running world)');
      if (!(await sb.pause(rec))) throw new ApiError(409, `sandbox ${rec.id} is already paused`);
      return sendJson(c.res, 204, null);
    }
    case 'POST /resume':
    case 'POST /connect':
      return connect(sb, c, rec, action === '/resume', await body());
    case 'POST /snapshots': {
      const s = await sb.snapshot(rec, snapshotName(await body()));
      return sendJson(c.res, 201, snapshotJson(s));
    }
    case 'POST /fork':
      return fork(sb, c, rec, await body());
    case 'GET /metrics': {
      if (c.query.get('start') !== null || c.query.get('end') !== null) {
        // Only the current figures exist: a window that excludes now has none.
        const end = Number(c.query.get('end') ?? Number.POSITIVE_INFINITY);
        if (end * 1000 < Date.now() - 5000) return sendJson(c.res, 200, []);
      }
      if (!rec.world) return sendJson(c.res, 200, []);
      const usage = (await sb.runtime.usage([rec.world])).get(rec.world.id) ?? { diskBytes: null, memoryBytes: null };
      return sendJson(c.res, 200, [metricJson(rec, usage)]);
    }
    case 'PUT /network': {
      const b = await body();
      checkNetwork(b);
      return sendJson(c.res, 204, null);
    }
    default:
      throw new ApiError(404, `world-runtime's E2B API has no ${method} ${path}`);
  }
}

async function create(sb: Sandboxes, c: ControlRequest, b: Record<string, unknown>): Promise<void> {
  const r = parseCreate(b);
  const rec = await sb.create(r.templateId, { ...r, timeoutS: r.timeoutS ?? DEFAULT_TIMEOUT_S });
  sendJson(c.res, 201, sandboxJson(rec));
}

async function connect(sb: Sandboxes, c: ControlRequest, rec: SandboxRecord, legacyResume: boolean, b: Record<string, unknown>): Promise<void> {
  refuseUnknown('connect', b, legacyResume ? ['timeout', 'autoPause', 'memory'] : ['timeout', 'memory']);
  if (optBool(b, 'memory') === false) throw new ApiError(400, 'memory: world-runtime resumes with memory only (onResume "reboot" is not supported)');
  const t = timeoutS(b);
  if (legacyResume) {
    const autoPause = optBool(b, 'autoPause');
    if (autoPause !== undefined) rec.autoPause = autoPause;
  }
  if (rec.state === 'paused') {
    await sb.resume(rec, t ?? DEFAULT_TIMEOUT_S);
    return sendJson(c.res, 201, sandboxJson(rec));
  }
  if (legacyResume) throw new ApiError(409, `sandbox ${rec.id} is already running`);
  // Connecting to a running sandbox only ever extends its life.
  if (t !== undefined && Date.now() + t * 1000 > rec.endAt.getTime()) sb.setTimeout(rec, t);
  sendJson(c.res, 200, sandboxJson(rec));
}

async function fork(sb: Sandboxes, c: ControlRequest, rec: SandboxRecord, b: Record<string, unknown>): Promise<void> {
  refuseUnknown('fork', b, ['timeout', 'count']);
  const count = optInt(b, 'count', 1, 100) ?? 1;
  const results = await sb.fork(rec, count, timeoutS(b) ?? DEFAULT_TIMEOUT_S);
  sendJson(
    c.res,
    201,
    results.map((r) => (r instanceof ApiError ? { error: { code: r.status, message: r.message } } : { sandbox: sandboxJson(r) })),
  );
}

/** `?metadata=k=v&k2=v2` as the SDK sends it: the pairs URL-encoded, then the whole string once more. */
function metadataFilter(q: URLSearchParams): Record<string, string> {
  const raw = q.get('metadata');
  if (!raw) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw)) {
    try {
      out[decodeURIComponent(k)] = decodeURIComponent(v);
    } catch {
      throw new ApiError(400, 'metadata: malformed URL encoding');
    }
  }
  return out;
}

function page<T>(items: T[], q: URLSearchParams, key: (t: T) => string): { items: T[]; next: string | null } {
  const limit = q.get('limit') === null ? 100 : Number(q.get('limit'));
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new ApiError(400, 'limit must be an integer from 1 to 100');
  const token = q.get('nextToken');
  let start = 0;
  if (token) {
    const i = items.findIndex((t) => key(t) === token);
    if (i < 0) throw new ApiError(400, 'nextToken does not name an item of this list (it may have been removed)');
    start = i;
  }
  const slice = items.slice(start, start + limit);
  const after = items[start + limit];
  return { items: slice, next: after ? key(after) : null };
}

function list(sb: Sandboxes, c: ControlRequest, legacy: boolean): void {
  const q = c.query;
  const meta = metadataFilter(q);
  const states = legacy ? ['running'] : (q.get('state')?.split(',').filter(Boolean) ?? ['running', 'paused']);
  for (const s of states) if (s !== 'running' && s !== 'paused') throw new ApiError(400, `state must be running or paused, got ${JSON.stringify(s)}`);
  const after = q.get('startedAfter');
  const afterMs = after ? Date.parse(after) : Number.NEGATIVE_INFINITY;
  if (Number.isNaN(afterMs)) throw new ApiError(400, 'startedAfter must be an RFC 3339 date-time');
  const template = q.get('template');
  const order = q.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') throw new ApiError(400, 'order must be asc or desc');
  const recs = [...sb.all.keys()]
    .map((id) => sb.find(id))
    .filter((r): r is SandboxRecord => r !== undefined)
    .filter((r) => states.includes(r.state === 'paused' ? 'paused' : 'running'))
    .filter((r) => Object.entries(meta).every(([k, v]) => r.metadata[k] === v))
    .filter((r) => r.startedAt.getTime() >= afterMs)
    .filter((r) => !template || r.carried.templateId === template || r.carried.alias === template)
    .sort((a, b) => (a.startedAt.getTime() - b.startedAt.getTime() || (a.id < b.id ? -1 : 1)) * (order === 'asc' ? 1 : -1));
  if (legacy) {
    sendJson(c.res, 200, recs.map(listedJson));
    return;
  }
  const p = page(recs, q, (r) => r.id);
  sendJson(c.res, 200, p.items.map(listedJson), p.next ? { 'x-next-token': p.next } : {});
}

function listSnapshots(sb: Sandboxes, c: ControlRequest): void {
  const sandboxId = c.query.get('sandboxID');
  const name = c.query.get('name');
  const snaps = [...sb.snapshots.values()]
    .filter((s) => s.snapshot.state === 'ready')
    .filter((s) => !sandboxId || s.sandboxId === sandboxId)
    .filter((s) => !name || s.id === name || s.name === name || `${s.name}:default` === name)
    .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? -1 : 1));
  const p = page(snaps, c.query, (s) => s.id);
  sendJson(c.res, 200, p.items.map(snapshotJson), p.next ? { 'x-next-token': p.next } : {});
}

async function deleteTemplate(sb: Sandboxes, c: ControlRequest, ref: string): Promise<void> {
  if (DEFAULT_TEMPLATES.includes(ref)) throw new ApiError(400, `template "${ref}" is world-runtime's default template and cannot be deleted`);
  const s = sb.snapshotByRef(ref);
  if (!s) throw new ApiError(404, `snapshot or template "${ref}" not found`);
  await sb.deleteSnapshot(s);
  sendJson(c.res, 204, null);
}
