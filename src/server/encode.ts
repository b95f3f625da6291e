/**
 * @module
 * The inverse of the route table: the HTTP request that carries a given `WorldAction` over the REST API.
 * Clients (the CLI, `DaemonClient`) build actions and send them with this; a test checks that decoding the
 * request gives back the same action.
 */
import type { WorldAction } from './actions.js';
import type { HttpMethod } from './routes/index.js';

export interface WireRequest {
  method: HttpMethod;
  /** Path with encoded parameters and query string. */
  path: string;
  /** JSON body, when the route takes one. */
  json?: unknown;
  /** Raw body (file uploads). */
  bytes?: Uint8Array;
}

const e = encodeURIComponent;

/** Encode a path inside a world: each segment encoded, slashes kept. */
function filePath(path: string): string {
  return path.split('/').map(e).join('/');
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Drop `kind` and `id` (and anything undefined) to get a JSON body. */
function fields(action: WorldAction, ...omit: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(action)) if (v !== undefined && k !== 'kind' && !omit.includes(k)) out[k] = v;
  return out;
}

export function requestFor(action: WorldAction): WireRequest {
  switch (action.kind) {
    case 'world.create':
      return { method: 'POST', path: '/v1/worlds', json: fields(action) };
    case 'world.list':
      return { method: 'GET', path: '/v1/worlds' };
    case 'world.get':
      return { method: 'GET', path: `/v1/worlds/${e(action.id)}` };
    case 'world.destroy':
      return { method: 'DELETE', path: `/v1/worlds/${e(action.id)}` };
    case 'world.exec':
      return { method: 'POST', path: `/v1/worlds/${e(action.id)}/exec`, json: fields(action, 'id') };
    case 'world.run':
      return { method: 'POST', path: `/v1/worlds/${e(action.id)}/run`, json: fields(action, 'id') };
    case 'world.writeFile':
      return { method: 'PUT', path: `/v1/worlds/${e(action.id)}/files/${filePath(action.path)}`, bytes: action.data };
    case 'world.readFile':
      return { method: 'GET', path: `/v1/worlds/${e(action.id)}/files/${filePath(action.path)}` };
    case 'world.snapshot':
      return { method: 'POST', path: `/v1/worlds/${e(action.id)}/snapshots`, json: fields(action, 'id') };
    case 'world.branch':
      return { method: 'POST', path: `/v1/worlds/${e(action.id)}/branch`, json: fields(action, 'id') };
    case 'snapshot.list':
      return { method: 'GET', path: '/v1/snapshots' };
    case 'snapshot.get':
      return { method: 'GET', path: `/v1/snapshots/${e(action.id)}` };
    case 'snapshot.destroy':
      return { method: 'DELETE', path: `/v1/snapshots/${e(action.id)}` };
    case 'snapshot.branch':
      return { method: 'POST', path: `/v1/snapshots/${e(action.id)}/branch`, json: fields(action, 'id') };
    case 'sandbox.create':
      return {
        method: 'POST',
        path: '/v1/sandboxes',
        json: {
          ...(action.snapshotId !== undefined ? { snapshot_id: action.snapshotId } : {}),
          ...(action.metadata !== undefined ? { metadata: action.metadata } : {}),
        },
      };
    case 'sandbox.snapshot':
      return { method: 'POST', path: `/v1/sandboxes/${e(action.id)}/snapshots`, json: fields(action, 'id') };
    case 'sandbox.execute':
      return { method: 'POST', path: `/v1/sandboxes/${e(action.id)}/execute`, json: { code: action.code } };
    case 'verse.pushDown':
      return { method: 'POST', path: `/v1/worlds/${e(action.id)}/push-down`, json: fields(action, 'id') };
    case 'verse.list':
      return { method: 'GET', path: '/v1/verses' };
    case 'verse.get':
      return { method: 'GET', path: `/v1/verses/${e(action.event)}` };
    case 'verse.execute':
      return { method: 'POST', path: `/v1/verses/${e(action.event)}/execute`, json: fields(action, 'event') };
    case 'verse.pullUp':
      return { method: 'POST', path: `/v1/verses/${e(action.event)}/pull-up`, json: fields(action, 'event') };
    case 'ledger.deposit':
      return { method: 'POST', path: '/v1/ledger/deposit', json: fields(action) };
    case 'ledger.withdraw':
      return { method: 'POST', path: '/v1/ledger/withdraw', json: fields(action) };
    case 'ledger.transfer':
      return { method: 'POST', path: '/v1/ledger/transfer', json: fields(action) };
    case 'ledger.pushDown':
      return { method: 'POST', path: '/v1/ledger/push-down', json: fields(action) };
    case 'ledger.pullUp':
      return { method: 'POST', path: '/v1/ledger/pull-up', json: fields(action) };
    case 'ledger.balances':
      return { method: 'GET', path: `/v1/ledger/balances${query({ verse: action.verse, owner: action.owner, asset: action.asset })}` };
    case 'ledger.verses':
      return { method: 'GET', path: '/v1/ledger/verses' };
    case 'ledger.events':
      return { method: 'GET', path: '/v1/ledger/events' };
    case 'ledger.journal':
      return { method: 'GET', path: `/v1/ledger/journal${query({ limit: action.limit })}` };
    case 'ledger.check':
      return { method: 'GET', path: '/v1/ledger/check' };
    case 'record.entities':
      return { method: 'GET', path: `/v1/entities${query({ state: action.state, type: action.type, limit: action.limit })}` };
    case 'record.branches':
      return { method: 'GET', path: `/v1/branches${query({ limit: action.limit })}` };
    case 'record.resolutions':
      return { method: 'GET', path: `/v1/resolutions${query({ limit: action.limit })}` };
    case 'record.metrics':
      return { method: 'GET', path: `/v1/metrics${query({ limit: action.limit })}` };
    case 'system.doctor':
      return { method: 'GET', path: '/v1/doctor' };
    case 'system.health':
      return { method: 'GET', path: '/v1/health' };
  }
}
