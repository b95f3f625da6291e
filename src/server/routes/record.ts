/**
 * @module
 * `/v1/entities`, `/v1/branches`, `/v1/resolutions`, `/v1/metrics`: reads of the DuckDB record.
 */
import { ENTITY_STATES, ENTITY_TYPES } from '../../store/types.js';
import { enumQuery, intQuery, type Route } from './route.js';

const MAX_LIMIT = 100_000;

export const recordRoutes: readonly Route[] = [
  {
    method: 'GET',
    path: '/v1/entities',
    body: 'none',
    query: ['state', 'type', 'limit'],
    decode: ({ query }) => {
      const state = enumQuery(query, 'state', ENTITY_STATES);
      const type = enumQuery(query, 'type', ENTITY_TYPES);
      const limit = intQuery(query, 'limit', 1, MAX_LIMIT);
      return {
        kind: 'record.entities',
        ...(state !== undefined ? { state } : {}),
        ...(type !== undefined ? { type } : {}),
        ...(limit !== undefined ? { limit } : {}),
      };
    },
  },
  {
    method: 'GET',
    path: '/v1/branches',
    body: 'none',
    query: ['limit'],
    decode: ({ query }) => {
      const limit = intQuery(query, 'limit', 1, MAX_LIMIT);
      return { kind: 'record.branches', ...(limit !== undefined ? { limit } : {}) };
    },
  },
  {
    method: 'GET',
    path: '/v1/resolutions',
    body: 'none',
    query: ['limit'],
    decode: ({ query }) => {
      const limit = intQuery(query, 'limit', 1, MAX_LIMIT);
      return { kind: 'record.resolutions', ...(limit !== undefined ? { limit } : {}) };
    },
  },
  {
    method: 'GET',
    path: '/v1/metrics',
    body: 'none',
    query: ['limit'],
    decode: ({ query }) => {
      const limit = intQuery(query, 'limit', 0, MAX_LIMIT);
      return { kind: 'record.metrics', ...(limit !== undefined ? { limit } : {}) };
    },
  },
];
