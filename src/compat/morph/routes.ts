/**
 * @module
 * The routes of Morph's API that morph-typescript-sdk calls, on the registry. Every instance answers with
 * status "ready" at once (a world answers when it is made), so the SDK's `waitUntilReady` poll ends at its
 * first look.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, sendJson } from './http.js';
import type { MorphInstance, Registry } from './registry.js';
import { commandOf, countOf, digestOf, imageJson, instanceJson, matches, metadataFilter, metadataOf, snapshotJson, specOf, ttlOf } from './shapes.js';

export interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown>;
}

/** What only Morph's SSH gateway or its HTTP proxy can do. */
const SSH_LIMIT =
  'world-runtime runs no SSH gateway: ssh(), sync() and ssh keys are not served (use exec, and files through exec)';
const HTTP_LIMIT = 'world-runtime forwards no instance ports: HTTP services cannot be exposed';

const list = (data: unknown[]) => ({ object: 'list', data });

export async function route(reg: Registry, c: Call): Promise<void> {
  const { method: m, path: p, res } = c;
  let parts: string[];
  try {
    parts = p.split('/').slice(1).map(decodeURIComponent);
  } catch {
    throw new ApiError(400, `malformed path ${JSON.stringify(p.slice(0, 200))}`);
  }
  const [top, id, action, sub] = parts;

  if (top === 'image' && parts.length === 1 && m === 'GET') return sendJson(res, 200, list([imageJson()]));

  if (top === 'snapshot') {
    if (parts.length === 1 && m === 'GET') {
      const digest = digestOf(c.query.get('digest') ?? undefined);
      const filter = metadataFilter(c.query);
      const out = [...reg.snapshots.values()].filter((s) => s.snapshot.state === 'ready' && (digest === null || s.digest === digest) && matches(s.metadata, filter));
      return sendJson(res, 200, list(out.map(snapshotJson)));
    }
    if (parts.length === 1 && m === 'POST') {
      const image = c.body.image_id;
      if (image !== undefined && image !== null && image !== 'morphvm-minimal') {
        throw new ApiError(422, `image ${String(image)} is not available: world-runtime serves the one image morphvm-minimal (GET /image)`);
      }
      const s = await reg.createSnapshot(specOf(c.body), digestOf(c.body.digest), metadataOf(c.body.metadata));
      return sendJson(res, 200, snapshotJson(s));
    }
    const snap = id === undefined ? undefined : reg.snapshot(id);
    if (snap && parts.length === 2 && m === 'GET') return sendJson(res, 200, snapshotJson(snap));
    if (snap && parts.length === 2 && m === 'DELETE') {
      await reg.deleteSnapshot(snap);
      return sendJson(res, 200, {});
    }
    if (snap && action === 'metadata' && parts.length === 3 && m === 'POST') {
      Object.assign(snap.metadata, metadataOf(c.body));
      return sendJson(res, 200, snapshotJson(snap));
    }
    if (snap && action === 'boot' && parts.length === 3 && m === 'POST') {
      // A world branched from a snapshot has the snapshot's size: another one is refused, not ignored.
      for (const k of ['vcpus', 'memory', 'disk_size'] as const) {
        if (c.body[k] !== undefined && c.body[k] !== snap.spec[k]) {
          throw new ApiError(422, `${k}: an instance booted here has its snapshot's ${k} (${snap.spec[k]}); world-runtime cannot resize a snapshot`);
        }
      }
      const [inst] = await reg.start(snap, 1, { metadata: metadataOf(c.body.metadata), ...ttlOf(c.body) });
      return sendJson(res, 200, instanceJson(inst as MorphInstance));
    }
  }

  if (top === 'instance') {
    if (parts.length === 1 && m === 'GET') {
      const filter = metadataFilter(c.query);
      const out = [...reg.instances.keys()].map((k) => reg.instance(k)).filter((i) => matches(i.metadata, filter));
      return sendJson(res, 200, list(out.map(instanceJson)));
    }
    if (parts.length === 1 && m === 'POST') {
      const sid = c.query.get('snapshot_id');
      if (!sid) throw new ApiError(422, 'snapshot_id (query) is required');
      const [inst] = await reg.start(reg.snapshot(sid), 1, { metadata: metadataOf(c.body.metadata), ...ttlOf(c.body) });
      return sendJson(res, 200, instanceJson(inst as MorphInstance));
    }
    if (id !== undefined) return instanceRoute(reg, c, reg.instance(id), parts.length, action, sub);
  }
  throw new ApiError(404, `Morph's API as world-runtime serves it has no ${m} ${p}`);
}

async function instanceRoute(reg: Registry, c: Call, inst: MorphInstance, n: number, action: string | undefined, sub: string | undefined): Promise<void> {
  const { method: m, res } = c;
  const answer = () => sendJson(res, 200, instanceJson(inst));
  if (n === 2 && m === 'GET') return answer();
  if (n === 2 && m === 'DELETE') {
    await reg.stop(inst);
    return sendJson(res, 200, {});
  }
  if (m === 'POST' && n === 3) {
    switch (action) {
      case 'pause':
        await reg.pause(inst);
        return answer();
      case 'resume':
        await reg.resume(inst);
        return answer();
      case 'reboot':
        await reg.reboot(inst);
        return answer();
      case 'metadata':
        inst.metadata = { ...inst.metadata, ...metadataOf(c.body) };
        return answer();
      case 'ttl': {
        const { ttlSeconds, ttlAction } = ttlOf(c.body);
        if (ttlSeconds === null) throw new ApiError(422, 'ttl_seconds is required');
        reg.setTtl(inst, ttlSeconds, ttlAction ?? 'stop');
        return answer();
      }
      case 'wake-on':
        for (const k of ['wake_on_ssh', 'wake_on_http'] as const) if (typeof c.body[k] === 'boolean') inst.wakeOn[k] = c.body[k] as boolean;
        return answer();
      case 'snapshot': {
        const s = await reg.snapshotInstance(inst, digestOf(c.query.get('digest') ?? c.body.digest), metadataOf(c.body.metadata));
        return sendJson(res, 200, snapshotJson(s));
      }
      case 'branch': {
        const count = countOf(c.query);
        // Morph's branch: a snapshot of the instance, then `count` instances started from it.
        const snap = await reg.snapshotInstance(inst, null, {});
        const instances = await reg.start(snap, count, { metadata: { ...inst.metadata }, ttlSeconds: null, ttlAction: null }).catch(async (err: unknown) => {
          await reg.deleteSnapshot(snap);
          throw err;
        });
        return sendJson(res, 200, { snapshot: snapshotJson(snap), instances: instances.map(instanceJson) });
      }
      case 'exec':
        return exec(inst, c, false);
      case 'http':
        throw new ApiError(501, HTTP_LIMIT);
    }
  }
  if (action === 'exec' && sub === 'sse' && n === 4 && m === 'POST') return exec(inst, c, true);
  if (action === 'ssh') throw new ApiError(501, SSH_LIMIT);
  if (action === 'http' && m === 'DELETE') throw new ApiError(501, HTTP_LIMIT);
  throw new ApiError(404, `Morph's API as world-runtime serves it has no ${m} ${c.path}`);
}

/** Exit code of a command killed by a signal, as a shell reports it. */
const SIGNALLED = 137;
/** Commands may run as long as Morph's exec (the SDK waits 24 h). */
const EXEC_TIMEOUT_MS = 86_400_000;

async function exec(inst: MorphInstance, c: Call, sse: boolean): Promise<void> {
  const command = commandOf(c.body);
  const world = inst.running();
  if (!sse) {
    const r = await world.run(command, { timeoutMs: EXEC_TIMEOUT_MS });
    return sendJson(c.res, 200, { exit_code: r.exitCode ?? SIGNALLED, stdout: r.stdout, stderr: r.stderr });
  }
  const { res } = c;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const event = (type: string, content: unknown) => {
    if (!res.destroyed) res.write(`data: ${JSON.stringify({ type, content })}\n\n`);
  };
  try {
    const r = await world.run(command, { timeoutMs: EXEC_TIMEOUT_MS, onOutput: (stream, chunk) => event(stream, chunk) });
    event('exit_code', r.exitCode ?? SIGNALLED);
  } catch (err) {
    // The stream has begun: an error goes as stderr and a failing exit code, which the SDK reads.
    event('stderr', `world-runtime: ${(err as Error)?.message ?? String(err)}\n`);
    event('exit_code', 1);
  }
  res.end();
}
