/**
 * @module
 * The seed's three calls, exactly as its Babashka code makes them (Morph-style `/v1/sandboxes`):
 * create (optionally from a snapshot), snapshot (`{name}` → `{snapshot_id, ...}`), execute (`{code}` →
 * stdout, stderr, value, error). Field names are the seed's snake_case.
 */
import { metadataField, param, type Route } from './route.js';

export const sandboxRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/sandboxes',
    body: 'json',
    schema: 'SandboxCreateRequest',
    decode: ({ body }) => {
      const b = body as { snapshot_id?: string };
      return { kind: 'sandbox.create', ...(b.snapshot_id !== undefined ? { snapshotId: b.snapshot_id } : {}), ...metadataField(body) };
    },
  },
  {
    method: 'POST',
    path: '/v1/sandboxes/{id}/snapshots',
    body: 'json',
    schema: 'SandboxSnapshotRequest',
    decode: (i) => {
      const b = i.body as { name?: string };
      return { kind: 'sandbox.snapshot', id: param(i, 'id'), ...(b.name !== undefined ? { name: b.name } : {}) };
    },
  },
  {
    method: 'POST',
    path: '/v1/sandboxes/{id}/execute',
    body: 'json',
    schema: 'SandboxExecuteRequest',
    decode: (i) => ({ kind: 'sandbox.execute', id: param(i, 'id'), code: (i.body as { code: string }).code }),
  },
];
