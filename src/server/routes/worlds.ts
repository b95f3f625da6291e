/**
 * @module
 * `/v1/worlds...`: the REST API for worlds (create, list, get, destroy, exec, run, files, snapshot, branch).
 */
import type { WorldAction } from '../actions.js';
import { metadataField, param, pick, type Route, type RouteInput } from './route.js';
import { branchFields } from './snapshots.js';

export const worldRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/worlds',
    body: 'none',
    decode: () => ({ kind: 'world.list' }),
  },
  {
    method: 'POST',
    path: '/v1/worlds',
    body: 'json',
    schema: 'CreateWorldRequest',
    decode: ({ body }) => ({
      kind: 'world.create',
      ...pick<Extract<WorldAction, { kind: 'world.create' }>>(body, ['trit', 'memoryMib', 'vcpus', 'diskMib']),
      ...metadataField(body),
    }),
  },
  {
    method: 'GET',
    path: '/v1/worlds/{id}',
    body: 'none',
    decode: (i) => ({ kind: 'world.get', id: param(i, 'id') }),
  },
  {
    method: 'DELETE',
    path: '/v1/worlds/{id}',
    body: 'none',
    decode: (i) => ({ kind: 'world.destroy', id: param(i, 'id') }),
  },
  {
    method: 'POST',
    path: '/v1/worlds/{id}/exec',
    body: 'json',
    schema: 'ExecRequest',
    decode: (i: RouteInput) => ({ kind: 'world.exec', id: param(i, 'id'), ...(pick(i.body, ['code', 'timeoutMs']) as { code: string; timeoutMs?: number }) }),
  },
  {
    method: 'POST',
    path: '/v1/worlds/{id}/run',
    body: 'json',
    schema: 'RunRequest',
    decode: (i) => ({
      kind: 'world.run',
      id: param(i, 'id'),
      ...(pick(i.body, ['command', 'cwd', 'env', 'timeoutMs']) as {
        command: string | string[];
        cwd?: string;
        env?: Record<string, string>;
        timeoutMs?: number;
      }),
    }),
  },
  {
    method: 'PUT',
    path: '/v1/worlds/{id}/files/{path}',
    body: 'bytes',
    decode: (i) => ({ kind: 'world.writeFile', id: param(i, 'id'), path: param(i, 'path'), data: i.bytes }),
  },
  {
    method: 'GET',
    path: '/v1/worlds/{id}/files/{path}',
    body: 'none',
    decode: (i) => ({ kind: 'world.readFile', id: param(i, 'id'), path: param(i, 'path') }),
  },
  {
    method: 'POST',
    path: '/v1/worlds/{id}/snapshots',
    body: 'json',
    schema: 'SnapshotRequest',
    decode: (i) => ({ kind: 'world.snapshot', id: param(i, 'id'), ...(pick(i.body, ['name']) as { name?: string }) }),
  },
  {
    method: 'POST',
    path: '/v1/worlds/{id}/branch',
    body: 'json',
    schema: 'BranchRequest',
    decode: (i) => ({ kind: 'world.branch', id: param(i, 'id'), ...branchFields(i.body) }),
  },
];
