/**
 * @module
 * The JSON Morph's API answers, field for field what morph-typescript-sdk's src/api.ts dereferences
 * (`new Snapshot(data)` reads `data.spec.*` and `data.refs.image_id`; `new Instance(data)` reads `spec`,
 * `refs`, `networking.*`, `ttl?.*` and `wake_on?.*`), and checks of what clients send.
 */
import { ApiError } from './http.js';
import { IMAGE_ID, type MorphInstance, type MorphSnapshot, type Spec, type TtlAction } from './registry.js';

export function imageJson(): Record<string, unknown> {
  return {
    id: IMAGE_ID,
    object: 'image',
    name: IMAGE_ID,
    description: 'A world-runtime world: Python 3 with a persistent interpreter, a shell and files',
    disk_size: 4096,
    created: 0,
  };
}

export function snapshotJson(s: MorphSnapshot): Record<string, unknown> {
  return {
    id: s.id,
    object: 'snapshot',
    created: s.created,
    status: 'ready',
    spec: { ...s.spec },
    refs: { image_id: IMAGE_ID },
    digest: s.digest,
    metadata: { ...s.metadata },
  };
}

export function instanceJson(i: MorphInstance): Record<string, unknown> {
  return {
    id: i.id,
    object: 'instance',
    created: i.created,
    status: i.status,
    spec: { ...i.spec },
    refs: { snapshot_id: i.snapshotId, image_id: IMAGE_ID },
    // No address and no exposed services: world-runtime forwards no instance ports.
    networking: { internal_ip: null, http_services: [] },
    ttl: { ttl_seconds: i.ttlSeconds, ttl_expire_at: i.ttlExpireAt, ttl_action: i.ttlAction },
    wake_on: { ...i.wakeOn },
    metadata: { ...i.metadata },
  };
}

/** `metadata[k]=v` query parameters (the SDK's list filters); every pair must match. */
export function metadataFilter(q: URLSearchParams): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of q) {
    const m = /^metadata\[(.*)\]$/.exec(k);
    if (m) out.push([m[1] as string, v]);
  }
  return out;
}

export function matches(metadata: Record<string, string>, filter: [string, string][]): boolean {
  return filter.every(([k, v]) => metadata[k] === v);
}

/** A digest from the query or a body; the SDK sends `?digest=undefined` when it was given none. */
export function digestOf(v: unknown): string | null {
  if (v === undefined || v === null || v === '' || v === 'undefined') return null;
  if (typeof v !== 'string' || v.length > 256) throw new ApiError(422, 'digest must be a string of at most 256 characters');
  return v;
}

/** Metadata as Morph keeps it: string values only. */
export function metadataOf(v: unknown, what = 'metadata'): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(422, `${what} must be an object of strings`);
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > 256) throw new ApiError(422, `${what}: at most 256 keys`);
  for (const [k, val] of entries) {
    if (typeof val !== 'string') throw new ApiError(422, `${what}.${k} must be a string`);
    if (k.length > 256 || val.length > 4096) throw new ApiError(422, `${what}.${k}: keys at most 256 and values at most 4096 characters`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function intIn(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ApiError(422, `${what} must be an integer from ${min} to ${max}`);
  return v;
}

/** Longest TTL: what one Node timer can wait (about 24 days). */
export const MAX_TTL_S = 2_147_483;

export function ttlOf(body: Record<string, unknown>): { ttlSeconds: number | null; ttlAction: TtlAction | null } {
  const seconds = body.ttl_seconds === undefined || body.ttl_seconds === null ? null : intIn(body.ttl_seconds, 'ttl_seconds', 1, MAX_TTL_S);
  const action = body.ttl_action;
  if (action !== undefined && action !== null && action !== 'stop' && action !== 'pause') throw new ApiError(422, 'ttl_action must be "stop" or "pause"');
  return { ttlSeconds: seconds, ttlAction: (action as TtlAction | undefined) ?? null };
}

/** The size of a new snapshot; Morph's units are MiB, as world-runtime's. */
export function specOf(body: Record<string, unknown>): Spec {
  const num = (k: string, dflt: number, max: number) => (body[k] === undefined || body[k] === null ? dflt : intIn(body[k], k, 1, max));
  return { vcpus: num('vcpus', 1, 256), memory: num('memory', 512, 1_048_576), disk_size: num('disk_size', 4096, 1_048_576) };
}

/** `{command: [...]}` of exec: one element runs through the shell (the SDK wraps a string so), more are argv. */
export function commandOf(body: Record<string, unknown>): string | string[] {
  const c = body.command;
  if (!Array.isArray(c) || c.length === 0 || !c.every((a) => typeof a === 'string')) throw new ApiError(422, 'command must be a non-empty array of strings');
  return c.length === 1 ? (c[0] as string) : (c as string[]);
}

export function countOf(q: URLSearchParams): number {
  const raw = q.get('count') ?? '1';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isInteger(n) || n < 1 || n > 1000) throw new ApiError(422, 'count must be an integer from 1 to 1000');
  return n;
}
