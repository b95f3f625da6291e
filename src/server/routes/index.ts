/**
 * @module
 * Every route the daemon serves, in one table (the router and the OpenAPI check both read it).
 */

import { ledgerRoutes } from './ledger.js';
import { recordRoutes } from './record.js';
import type { Route } from './route.js';
import { sandboxRoutes } from './sandboxes.js';
import { snapshotRoutes } from './snapshots.js';
import { systemRoutes } from './system.js';
import { verseRoutes } from './verses.js';
import { worldRoutes } from './worlds.js';

export type { HttpMethod, Route, RouteInput } from './route.js';

export const ROUTES: readonly Route[] = [
  ...sandboxRoutes,
  ...worldRoutes,
  ...snapshotRoutes,
  ...recordRoutes,
  ...verseRoutes,
  ...ledgerRoutes,
  ...systemRoutes,
];
