/**
 * @module
 * Verse and ledger routes: the place for issue 4 (not implemented yet). Planned:
 *
 * - `POST /v1/worlds/{id}/push-down` → `verse.pushDown` (snapshot a world, branch one verse-world per child,
 *   ledger push-down), calling `rt.pushDown`;
 * - `POST /v1/partitions/{id}/pull-up` → `verse.pullUp` (oracle resolution, collapse losers, WEV), calling
 *   `rt.pullUp`;
 * - `GET/POST /v1/ledger/...` → `ledger.*` (deposit, withdraw, transfer, balances, journal).
 *
 * Each is a route here, an action member in actions.ts, a case in execute.ts, a schema in openapi.json.
 * Until then those paths answer 404 like any unknown route.
 */
import type { Route } from './route.js';

export const verseRoutes: readonly Route[] = [];
