/**
 * @module
 * The control plane's JSON, both ways: sandboxes as E2B's openapi.yml describes them (`Sandbox`,
 * `ListedSandbox`, `SandboxDetail`, `SnapshotInfo`, `SandboxMetric`), and the checks on what a client sends.
 * A field world-runtime cannot honour is refused with 400 and a message naming the limit, never dropped.
 */
import { MAX_SNAPSHOT_NAME } from '../../index.js';
import { ApiError } from './rest.js';
import { ENVD_VERSION, MAX_TIMEOUT_S, type SandboxRecord, type SnapshotRecord } from './sandboxes.js';

/** Where the SDK would build sandbox hostnames when no sandbox URL is set: a name that resolves nowhere. */
export const SANDBOX_DOMAIN = 'world-runtime.invalid';
const CLIENT_ID = 'world-runtime';

type Body = Record<string, unknown>;

export function refuseUnknown(where: string, body: Body, known: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!known.includes(key)) throw new ApiError(400, `${where}: field "${key}" is not supported by world-runtime (supported: ${known.join(', ')})`);
  }
}

export function optInt(body: Body, key: string, min: number, max: number): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ApiError(400, `${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  return v;
}

export function timeoutS(body: Body, key = 'timeout'): number | undefined {
  return optInt(body, key, 0, MAX_TIMEOUT_S);
}

export function optBool(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ApiError(400, `${key} must be a boolean`);
  return v;
}

export function stringMap(body: Body, key: string): Record<string, string> {
  const v = body[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, `${key} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Body)) {
    if (typeof x !== 'string') throw new ApiError(400, `${key}.${k} must be a string`);
    out[k] = x;
  }
  if (JSON.stringify(out).length > 64 * 1024) throw new ApiError(400, `${key} is larger than 64 KiB`);
  return out;
}

function nonEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as Body).length > 0;
  return true;
}

/** Network settings: a world has no network, so only requests that deny egress can be honoured. */
export function checkNetwork(network: unknown): void {
  if (network === undefined || network === null) return;
  if (typeof network !== 'object' || Array.isArray(network)) throw new ApiError(400, 'network must be an object');
  const n = network as Body;
  refuseUnknown('network', n, ['allowOut', 'denyOut', 'rules', 'egressProxy', 'allowPublicTraffic', 'maskRequestHost', 'httpsPorts', 'allow_internet_access']);
  if (nonEmpty(n.allowOut)) throw new ApiError(400, 'network.allowOut: world-runtime worlds have no network access, so no egress can be allowed');
  if (nonEmpty(n.rules)) throw new ApiError(400, 'network.rules: world-runtime worlds have no network access, so there is no egress to transform');
  if (nonEmpty(n.egressProxy)) throw new ApiError(400, 'network.egressProxy: world-runtime worlds have no network access, so there is no egress to tunnel');
  if (n.allowPublicTraffic === true) throw new ApiError(400, 'network.allowPublicTraffic: world-runtime publishes no sandbox URLs');
  if (nonEmpty(n.maskRequestHost)) throw new ApiError(400, 'network.maskRequestHost: world-runtime publishes no sandbox URLs');
  if (nonEmpty(n.httpsPorts)) throw new ApiError(400, 'network.httpsPorts: world-runtime forwards no sandbox ports');
  if (n.allow_internet_access === true) throw new ApiError(400, 'network.allow_internet_access: world-runtime worlds have no network access');
}

export interface CreateRequest {
  templateId: string;
  timeoutS: number | undefined;
  metadata: Record<string, string>;
  envVars: Record<string, string>;
  autoPause: boolean;
  autoResume: boolean;
}

const CREATE_FIELDS = [
  'templateID',
  'timeout',
  'autoPause',
  'autoPauseMemory',
  'autoResume',
  'secure',
  'allow_internet_access',
  'network',
  'metadata',
  'envVars',
  'mcp',
  'iam',
  'volumeMounts',
];

/** POST /sandboxes and /v2/sandboxes (NewSandbox, NewSandboxV2). */
export function parseCreate(body: Body): CreateRequest {
  refuseUnknown('sandbox', body, CREATE_FIELDS);
  const templateId = body.templateID;
  if (typeof templateId !== 'string' || templateId === '') throw new ApiError(400, 'templateID is required');
  if (nonEmpty(body.mcp)) throw new ApiError(400, 'mcp: world-runtime runs no MCP gateway (its worlds have no network access)');
  if (nonEmpty(body.volumeMounts)) throw new ApiError(400, 'volumeMounts: world-runtime has no volumes; a world has its own files only');
  if (nonEmpty((body.iam as Body | undefined)?.tokens)) throw new ApiError(400, 'iam: world-runtime issues no workload identity tokens');
  if (body.allow_internet_access === true) throw new ApiError(400, 'allow_internet_access: world-runtime worlds have no network access');
  checkNetwork(body.network);
  optBool(body, 'secure');
  optBool(body, 'allow_internet_access');
  const autoPause = optBool(body, 'autoPause') ?? false;
  if (optBool(body, 'autoPauseMemory') === false) {
    throw new ApiError(400, 'autoPauseMemory: world-runtime pauses with memory only (a pause is a snapshot of the running world)');
  }
  let autoResume = false;
  if (body.autoResume !== undefined && body.autoResume !== null) {
    const ar = body.autoResume as Body;
    if (typeof ar !== 'object' || Array.isArray(ar)) throw new ApiError(400, 'autoResume must be an object');
    refuseUnknown('autoResume', ar, ['enabled']);
    autoResume = optBool(ar, 'enabled') ?? false;
    if (autoResume && !autoPause) throw new ApiError(400, 'autoResume can only be enabled when autoPause is true');
  }
  return { templateId, timeoutS: timeoutS(body), metadata: stringMap(body, 'metadata'), envVars: stringMap(body, 'envVars'), autoPause, autoResume };
}

export function snapshotName(body: Body): string | null {
  refuseUnknown('snapshot', body, ['name']);
  const v = body.name;
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string' || v.length > MAX_SNAPSHOT_NAME || [...v].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new ApiError(400, `name must be a string of at most ${MAX_SNAPSHOT_NAME} printable characters`);
  }
  return v;
}

function size(rec: SandboxRecord): { cpuCount: number; memoryMB: number; diskSizeMB: number } {
  const s = rec.world ?? rec.pausedAs;
  return { cpuCount: s?.vcpus ?? 1, memoryMB: s?.memoryMib ?? 512, diskSizeMB: s?.diskMib ?? 0 };
}

/** `Sandbox`: what create, connect and resume answer. */
export function sandboxJson(rec: SandboxRecord): Body {
  return {
    templateID: rec.carried.templateId,
    sandboxID: rec.id,
    ...(rec.carried.alias ? { alias: rec.carried.alias } : {}),
    clientID: CLIENT_ID,
    envdVersion: ENVD_VERSION,
    envdAccessToken: rec.token,
    trafficAccessToken: rec.token,
    domain: SANDBOX_DOMAIN,
  };
}

/** `ListedSandbox`. */
export function listedJson(rec: SandboxRecord): Body {
  return {
    templateID: rec.carried.templateId,
    ...(rec.carried.alias ? { alias: rec.carried.alias } : {}),
    sandboxID: rec.id,
    clientID: CLIENT_ID,
    startedAt: rec.startedAt.toISOString(),
    endAt: rec.endAt.toISOString(),
    ...size(rec),
    metadata: rec.metadata,
    state: rec.state === 'paused' ? 'paused' : 'running',
    envdVersion: ENVD_VERSION,
    volumeMounts: [],
  };
}

/** `SandboxDetail`. */
export function detailJson(rec: SandboxRecord): Body {
  return {
    ...listedJson(rec),
    envdAccessToken: rec.token,
    domain: SANDBOX_DOMAIN,
    allowInternetAccess: false,
    lifecycle: { autoResume: rec.autoResume, onTimeout: rec.autoPause ? 'pause' : 'kill' },
  };
}

export function snapshotJson(s: SnapshotRecord): Body {
  return { snapshotID: s.id, names: s.name ? [`${s.name}:default`] : [] };
}

/** `SandboxMetric`: memory and disk from the runtime's usage; CPU use is not measured (0). */
export function metricJson(rec: SandboxRecord, usage: { diskBytes: number | null; memoryBytes: number | null }): Body {
  const now = new Date();
  const { cpuCount, memoryMB, diskSizeMB } = size(rec);
  return {
    timestamp: now.toISOString(),
    timestampUnix: Math.floor(now.getTime() / 1000),
    cpuCount,
    cpuUsedPct: 0,
    memUsed: usage.memoryBytes ?? 0,
    memTotal: memoryMB * 1024 * 1024,
    memCache: 0,
    diskUsed: usage.diskBytes ?? 0,
    diskTotal: diskSizeMB * 1024 * 1024,
  };
}
