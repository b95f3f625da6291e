/**
 * @module
 * envd's filesystem: the `filesystem.Filesystem` Connect service (Stat, MakeDir, Move, ListDir, Remove,
 * WatchDir and the polled watchers) and the REST `/files` download and upload, over the guest's file
 * operations (guest-files.ts). File contents cross in chunks of {@link CHUNK_BYTES}, so a file of any size
 * fits the world's request channel.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { bool, ConnectError, int, type Json, type ServerStream, str, timeoutOf, toConnectError } from './connect.js';
import { checkUser, resolvePath } from './envd-paths.js';
import { guestCall } from './guest.js';
import type { GuestEvent, WatchSub } from './poller.js';
import { ApiError, readBody, sendJson } from './rest.js';
import type { SandboxRecord } from './sandboxes.js';

const CHUNK_BYTES = 4 << 20;
const KINDS: Record<string, string> = { file: 'FILE_TYPE_FILE', dir: 'FILE_TYPE_DIRECTORY', symlink: 'FILE_TYPE_SYMLINK' };

/** An entry as the guest describes it. */
export interface GuestEntry {
  n: string;
  t: 'file' | 'dir' | 'symlink' | 'other';
  p: string;
  s: number;
  m: number;
  perm: string;
  o: string;
  g: string;
  mt: [number, number];
  lt?: string;
  md?: Record<string, string>;
}

function timestamp([sec, ns]: [number, number]): string {
  return `${new Date(sec * 1000).toISOString().slice(0, 19)}.${String(ns).padStart(9, '0')}Z`;
}

/** `filesystem.EntryInfo` in proto3 JSON. */
export function entryInfo(e: GuestEntry): Json {
  return {
    name: e.n,
    type: KINDS[e.t] ?? 'FILE_TYPE_UNSPECIFIED',
    path: e.p,
    size: String(e.s),
    mode: e.m,
    permissions: e.perm,
    owner: e.o,
    group: e.g,
    modifiedTime: timestamp(e.mt),
    ...(e.lt !== undefined ? { symlinkTarget: e.lt } : {}),
    ...(e.md && Object.keys(e.md).length > 0 ? { metadata: e.md } : {}),
  };
}

function fsEvent(ev: GuestEvent): Json {
  return { name: ev.name, type: `EVENT_TYPE_${ev.type.toUpperCase()}`, ...(ev.entry ? { entry: entryInfo(ev.entry as unknown as GuestEntry) } : {}) };
}

export interface RpcCall {
  rec: SandboxRecord;
  req: IncomingMessage;
  msg: Json;
}

/** The unary filesystem methods; undefined for a method this service does not have as unary. */
export async function filesystemUnary(method: string, { rec, req, msg }: RpcCall): Promise<Json | undefined> {
  checkUser(req.headers.authorization);
  const world = rec.running();
  switch (method) {
    case 'Stat':
      return { entry: entryInfo(await guestCall<GuestEntry>(world, 'stat', { path: resolvePath(str(msg, 'path')) })) };
    case 'MakeDir':
      return { entry: entryInfo(await guestCall<GuestEntry>(world, 'mkdir', { path: resolvePath(str(msg, 'path')) })) };
    case 'Move': {
      const src = resolvePath(str(msg, 'source'));
      const dst = resolvePath(str(msg, 'destination'));
      return { entry: entryInfo(await guestCall<GuestEntry>(world, 'move', { src, dst })) };
    }
    case 'ListDir': {
      const depth = int(msg, 'depth') ?? 1;
      const entries = await guestCall<GuestEntry[]>(world, 'list', { path: resolvePath(str(msg, 'path')), depth: Math.max(1, depth) });
      return { entries: entries.map(entryInfo) };
    }
    case 'Remove':
      await guestCall(world, 'remove', { path: resolvePath(str(msg, 'path')) });
      return {};
    case 'CreateWatcher': {
      const { wid } = await guestCall<{ wid: string }>(world, 'watch_add', watchArgs(msg));
      rec.watchers.add(wid);
      return { watcherId: wid };
    }
    case 'GetWatcherEvents': {
      const wid = watcherId(rec, msg);
      const t = await guestCall<{ w: Record<string, { gone?: boolean; ev?: GuestEvent[]; overflow?: boolean }> }>(world, 'tick', { w: [wid] });
      const r = t.w[wid];
      if (!r || r.gone) throw new ConnectError('not_found', `watcher ${wid} not found`);
      if (r.overflow) throw new ConnectError('resource_exhausted', 'more directory events came than the watcher could hold; create it again');
      return { events: (r.ev ?? []).map(fsEvent) };
    }
    case 'RemoveWatcher': {
      const wid = watcherId(rec, msg);
      rec.watchers.delete(wid);
      await guestCall(world, 'watch_remove', { wid });
      return {};
    }
    default:
      return undefined;
  }
}

function watcherId(rec: SandboxRecord, msg: Json): string {
  const wid = str(msg, 'watcherId', 'watcher_id') ?? '';
  if (!rec.watchers.has(wid)) throw new ConnectError('not_found', `watcher ${wid} not found`);
  return wid;
}

function watchArgs(msg: Json): Json {
  // allowNetworkMounts asks to watch NFS/FUSE mounts too; a world has none, so it changes nothing.
  bool(msg, 'allowNetworkMounts', 'allow_network_mounts');
  return { path: resolvePath(str(msg, 'path')), recursive: bool(msg, 'recursive'), include: bool(msg, 'includeEntry', 'include_entry') };
}

/** Keep-alive period asked by the SDK (`Keepalive-Ping-Interval`, seconds), 1 to 600; default 50. */
export function keepaliveMs(req: IncomingMessage): number {
  const v = Number(req.headers['keepalive-ping-interval']);
  return (Number.isFinite(v) && v >= 1 ? Math.min(v, 600) : 50) * 1000;
}

/** WatchDir: a start event, then directory events until the client leaves or its timeout passes. */
export async function watchDir({ rec, req, msg }: RpcCall, stream: ServerStream): Promise<void> {
  checkUser(req.headers.authorization);
  const world = rec.running();
  const { wid } = await guestCall<{ wid: string }>(world, 'watch_add', watchArgs(msg));
  const poller = rec.pollerFor(world);
  const sub: WatchSub = {
    kind: 'watch',
    wid,
    onEvents: (evs) => {
      for (const ev of evs) stream.send({ filesystem: fsEvent(ev) });
    },
    onGone: (err) => (err.code === 'unavailable' ? stream.cut() : stream.end(err)),
  };
  const keepalive = setInterval(() => stream.send({ keepalive: {} }), keepaliveMs(req));
  const timeout = timeoutOf(req);
  const deadline = timeout ? setTimeout(() => stream.end(new ConnectError('deadline_exceeded', `the watch reached its timeout of ${timeout} ms`)), timeout) : undefined;
  stream.onClose(() => {
    clearInterval(keepalive);
    clearTimeout(deadline);
    poller.remove(sub);
    if (world.state === 'running') guestCall(world, 'watch_remove', { wid }).catch(() => {});
  });
  stream.send({ start: {} });
  poller.add(sub);
}

/** ConnectError → the status envd's REST API answers. */
function restError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = toConnectError(err);
  const status = { not_found: 404, invalid_argument: 400, permission_denied: 403, resource_exhausted: 507, unavailable: 502, already_exists: 409 }[e.code as string] ?? 500;
  return new ApiError(status, e.message);
}

/** GET /files?path=: the file's bytes. */
export async function download(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
  try {
    checkUser(req.headers.authorization, q.get('username'));
    if (!q.get('path')) throw new ApiError(400, 'path is required');
    const world = rec.running();
    const path = resolvePath(q.get('path') ?? undefined);
    const first = await guestCall<{ d: string; size: number }>(world, 'read', { path, offset: 0, size: CHUNK_BYTES });
    const data = Buffer.from(first.d, 'base64');
    if (data.length >= first.size) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': data.length });
      res.end(data);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.write(data);
    let offset = data.length;
    const gone = () => res.destroyed || res.writableEnded;
    while (!gone()) {
      const r = await guestCall<{ d: string }>(world, 'read', { path, offset, size: CHUNK_BYTES });
      const chunk = Buffer.from(r.d, 'base64');
      if (chunk.length === 0) break;
      offset += chunk.length;
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  } catch (err) {
    if (res.headersSent) res.destroy();
    else throw restError(err);
  }
}

/** POST /files: multipart parts (named by `path` or each part's filename) or one octet-stream body. */
export async function upload(rec: SandboxRecord, req: IncomingMessage, res: ServerResponse, q: URLSearchParams, limit: number): Promise<void> {
  try {
    checkUser(req.headers.authorization, q.get('username'));
    const metadata = metadataHeaders(req);
    let body = await readBody(req, limit);
    if (String(req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip') {
      try {
        body = gunzipSync(body, { maxOutputLength: limit });
      } catch (err) {
        throw new ApiError(400, `the gzip body cannot be read: ${(err as Error).message}`);
      }
    }
    const type = String(req.headers['content-type'] ?? '');
    const files: { path: string; data: Buffer }[] = [];
    if (type.startsWith('multipart/form-data')) {
      let form: FormData;
      try {
        form = await new Response(new Blob([new Uint8Array(body)]), { headers: { 'content-type': type } }).formData();
      } catch {
        throw new ApiError(400, 'the multipart body cannot be read');
      }
      const parts = form.getAll('file');
      for (const part of parts) {
        if (typeof part === 'string') throw new ApiError(400, 'each "file" part must be a file');
        const name = parts.length === 1 && q.get('path') ? (q.get('path') as string) : part.name;
        if (!name) throw new ApiError(400, 'a file part without a filename needs the path parameter');
        files.push({ path: resolvePath(name), data: Buffer.from(await part.arrayBuffer()) });
      }
      if (files.length === 0) throw new ApiError(400, 'the multipart body has no "file" part');
    } else {
      if (!q.get('path')) throw new ApiError(400, 'path is required for an application/octet-stream upload');
      files.push({ path: resolvePath(q.get('path') ?? undefined), data: body });
    }
    const world = rec.running();
    const out: Json[] = [];
    for (const f of files) {
      const e = await writeFile(rec, f.path, f.data, metadata);
      out.push({ name: e.n, type: 'file', path: e.p, ...(e.md ? { metadata: e.md } : {}) });
    }
    rec.pollerFor(world).kick();
    sendJson(res, 200, out);
  } catch (err) {
    throw restError(err);
  }
}

/** Write a whole file through the guest, in place, chunk by chunk. */
export async function writeFile(rec: SandboxRecord, path: string, data: Buffer, metadata: Record<string, string> | null): Promise<GuestEntry> {
  const world = rec.running();
  let off = 0;
  for (;;) {
    const chunk = data.subarray(off, off + CHUNK_BYTES);
    const last = off + chunk.length >= data.length;
    const r = await guestCall<GuestEntry | Record<string, never>>(world, 'write', {
      path,
      d: chunk.toString('base64'),
      first: off === 0,
      last,
      ...(last ? { md: metadata ?? {} } : {}),
    });
    off += chunk.length;
    if (last) return r as GuestEntry;
  }
}

/** `X-Metadata-<key>: value` headers; keys lower-cased, printable ASCII, 4 KiB in all. */
function metadataHeaders(req: IncomingMessage): Record<string, string> | null {
  const out: Record<string, string> = {};
  let total = 0;
  for (const [k, v] of Object.entries(req.headers)) {
    if (!k.startsWith('x-metadata-')) continue;
    const key = k.slice('x-metadata-'.length);
    const value = Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
    if (!key || !/^[\x20-\x7e]*$/.test(value)) throw new ApiError(400, `metadata ${JSON.stringify(key)}: keys and values must be printable US-ASCII`);
    total += 'user.e2b.'.length + key.length + value.length;
    out[key] = value;
  }
  if (total > 4096) throw new ApiError(400, 'file metadata is larger than 4096 bytes');
  return Object.keys(out).length > 0 ? out : null;
}
