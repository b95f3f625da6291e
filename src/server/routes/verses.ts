/**
 * @module
 * World-level verses: push a world down into verse-worlds (`POST /v1/worlds/{id}/push-down`), list and read
 * push-down events (`GET /v1/verses`, `GET /v1/verses/{event}`), run code in several verses at once
 * (`POST /v1/verses/{event}/execute`), and resolve an event by oracle (`POST /v1/verses/{event}/pull-up`).
 */
import { InvalidArgumentError } from '../../base/errors.js';
import type { Trit } from '../../base/types.js';
import type { ActionOf } from '../actions.js';
import { param, pick, type Route } from './route.js';

export const verseRoutes: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/worlds/{id}/push-down',
    body: 'json',
    schema: 'PushDownRequest',
    decode: (i) => {
      const b = pick<ActionOf<'verse.pushDown'>>(i.body, ['event', 'allowUnbalancedTrits', 'snapshotName']);
      const children = (i.body as { children?: { name: string; trit: Trit; probability: string | number }[] }).children;
      return {
        kind: 'verse.pushDown',
        id: param(i, 'id'),
        ...b,
        // Only the three known fields of each child (the schema refused any other).
        ...(children !== undefined ? { children: children.map((c) => ({ name: c.name, trit: c.trit, probability: c.probability })) } : {}),
      };
    },
  },
  {
    method: 'GET',
    path: '/v1/verses',
    body: 'none',
    decode: () => ({ kind: 'verse.list' }),
  },
  {
    method: 'GET',
    path: '/v1/verses/{event}',
    body: 'none',
    decode: (i) => ({ kind: 'verse.get', event: param(i, 'event') }),
  },
  {
    method: 'POST',
    path: '/v1/verses/{event}/execute',
    body: 'json',
    schema: 'VerseExecuteRequest',
    decode: (i) => ({ kind: 'verse.execute', event: param(i, 'event'), code: (i.body as { code: string | Record<string, string> }).code }),
  },
  {
    method: 'POST',
    path: '/v1/verses/{event}/pull-up',
    body: 'json',
    schema: 'PullUpRequest',
    decode: (i) => {
      const b = pick<ActionOf<'verse.pullUp'>>(i.body, ['outcome', 'oracle', 'score']);
      if (b.outcome !== undefined && b.score !== undefined) {
        throw new InvalidArgumentError('body: give `outcome` (the manual oracle) or `score` (the score oracle), not both');
      }
      return { kind: 'verse.pullUp', event: param(i, 'event'), ...b };
    },
  },
];
