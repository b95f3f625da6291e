/**
 * @module
 * `/v1/snapshots...`: list, get, destroy, and branch N worlds from a snapshot.
 */
import type { BranchFields } from '../actions.js';
import { metadataField, param, pick, type Route } from './route.js';

const BRANCH_KEYS = ['count', 'trits', 'sameRandom'] as const;

/** The branch options of a checked `BranchRequest` body. */
export function branchFields(body: unknown): BranchFields {
  return { ...(pick<BranchFields>(body, BRANCH_KEYS) as BranchFields), ...metadataField(body) };
}

export const snapshotRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/snapshots',
    body: 'none',
    decode: () => ({ kind: 'snapshot.list' }),
  },
  {
    method: 'GET',
    path: '/v1/snapshots/{id}',
    body: 'none',
    decode: (i) => ({ kind: 'snapshot.get', id: param(i, 'id') }),
  },
  {
    method: 'DELETE',
    path: '/v1/snapshots/{id}',
    body: 'none',
    decode: (i) => ({ kind: 'snapshot.destroy', id: param(i, 'id') }),
  },
  {
    method: 'POST',
    path: '/v1/snapshots/{id}/branch',
    body: 'json',
    schema: 'BranchRequest',
    decode: (i) => ({ kind: 'snapshot.branch', id: param(i, 'id'), ...branchFields(i.body) }),
  },
];
