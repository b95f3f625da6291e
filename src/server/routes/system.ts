/**
 * @module
 * `/v1/doctor` (what this machine supports) and `/v1/health` (is the daemon up, and who is it).
 */
import type { Route } from './route.js';

export const systemRoutes: readonly Route[] = [
  { method: 'GET', path: '/v1/doctor', body: 'none', decode: () => ({ kind: 'system.doctor' }) },
  { method: 'GET', path: '/v1/health', body: 'none', decode: () => ({ kind: 'system.health' }) },
];
