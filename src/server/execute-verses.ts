/**
 * @module
 * The `verse.*` handlers of the `Executor`: world-level verses on the daemon's runtime. A push-down
 * snapshots a world and branches one verse-world per child (`rt.pushDown`); execute runs code in several
 * verses at once (`rt.executeIn`); a pull-up resolves the event by oracle (`rt.pullUp`), and the worlds it
 * collapses are remembered so later requests for them answer 409 `collapsed` rather than 404.
 */
import { InvalidArgumentError } from '../base/errors.js';
import type { WorldRuntime } from '../core/runtime.js';
import { SEED_TRIAD, type VerseWorld } from '../core/verses.js';
import type { World } from '../core/world.js';
import type { ActionKind } from '../protocol/actions.js';
import type { WorldInfo } from '../protocol/results.js';
import { amountMap, eventInfo, execReply, snapshotInfo, verseWorldInfo, worldInfo } from './convert.js';
import type { HandlerSet } from './handlers.js';

export type VerseKind = Extract<ActionKind, `verse.${string}`>;

/** What the verse handlers need from the executor. */
export interface VerseHost {
  /** The daemon's runtime (read on each call: the executor builds its handlers before its constructor runs). */
  runtime(): WorldRuntime;
  /** A live world, or the executor's 409 for one it destroyed or collapsed, or 404. */
  world(id: string, operation: string): World;
  /** Run `make`, which makes `adding` worlds, holding that many places under --max-worlds (503 when full). */
  withCapacity<T>(adding: number, make: () => Promise<T>): Promise<T>;
  /** Remember a world gone from the runtime, with its last JSON. */
  bury(id: string, json: WorldInfo): void;
}

/** The verses a `verse.execute` names, and the code for each by child name. */
function targets(verses: VerseWorld[], code: string | Record<string, string>): { chosen: VerseWorld[]; byName: Record<string, string> } {
  if (typeof code === 'string') return { chosen: verses, byName: Object.fromEntries(verses.map((v) => [v.name, code])) };
  const byName: Record<string, string> = {};
  for (const [key, text] of Object.entries(code)) {
    const v = verses.find((x) => x.name === key || x.verse === key);
    if (!v)
      throw new InvalidArgumentError(`body.code: "${key}" is not a verse of this event (verses: ${verses.map((x) => x.name).join(', ')})`, { verse: key });
    byName[v.name] = text;
  }
  if (Object.keys(byName).length === 0) throw new InvalidArgumentError('body.code: name at least one verse, or give one string to run in every verse');
  return { chosen: verses.filter((v) => v.name in byName), byName };
}

export function verseHandlers(host: VerseHost): HandlerSet<VerseKind> {
  return {
    'verse.pushDown': async (a) => {
      const rt = host.runtime();
      const w = host.world(a.id, 'pushDown');
      const r = await host.withCapacity(a.children?.length ?? SEED_TRIAD.length, () =>
        rt.pushDown(w, {
          ...(a.event !== undefined ? { event: a.event } : {}),
          ...(a.children !== undefined ? { children: a.children } : {}),
          ...(a.allowUnbalancedTrits !== undefined ? { allowUnbalancedTrits: a.allowUnbalancedTrits } : {}),
          ...(a.snapshotName !== undefined ? { snapshotName: a.snapshotName } : {}),
        }),
      );
      return {
        event: r.event,
        parentVerse: r.parentVerse,
        snapshot: snapshotInfo(r.snapshot),
        verses: r.verses.map(verseWorldInfo),
        gf3Sum: r.gf3Sum,
        pushDownTimeMs: r.pushDownTimeMs,
      };
    },
    // Every event of the ledger, oldest first: this daemon's own push-downs are live; an earlier daemon's on
    // the same home are read from the ledger and the record (not live).
    'verse.list': async () => ({ events: (await host.runtime().events()).map(eventInfo) }),
    'verse.get': async (a) => eventInfo(await host.runtime().event(a.event)),
    'verse.execute': async (a) => {
      const rt = host.runtime();
      const { chosen, byName } = targets(rt.verses(a.event), a.code);
      const results = await rt.executeIn(chosen, byName);
      return {
        event: a.event,
        results: results.map((r, i) => ({
          verse: r.verse,
          name: r.name,
          world: (chosen[i] as VerseWorld).world.id,
          ok: r.ok,
          result: r.result ? execReply(r.result) : null,
          error: r.error ?? null,
        })),
      };
    },
    'verse.pullUp': async (a) => {
      const rt = host.runtime();
      const before = rt.worlds();
      const r = await rt.pullUp(a.event, {
        ...(a.outcome !== undefined ? { outcome: a.outcome } : {}),
        ...(a.oracle !== undefined ? { oracle: a.oracle } : {}),
        ...(a.score !== undefined ? { score: a.score } : {}),
      });
      const collapsed = before.filter((w) => w.state === 'collapsed');
      for (const w of collapsed) host.bury(w.id, worldInfo(w));
      return {
        event: r.event,
        winner: verseWorldInfo(r.winner),
        collapsed: r.collapsed,
        collapsedWorlds: collapsed.map((w) => w.id),
        wev: amountMap(r.wev),
        scores: r.scores ?? null,
        oracleSource: r.oracleSource,
        pullUpTimeMs: r.pullUpTimeMs,
      };
    },
  };
}
