/**
 * @module
 * Every push-down event, live or not: the ledger keeps each event with its verses, probabilities, trits,
 * winner and WEV for ever; the worlds are this runtime's own when it made the push-down, and otherwise what
 * the record last saw of them (`verse_worlds` joined to `world_runtime_entities`). So a runtime opened on
 * yesterday's home still answers for yesterday's events, marked not live.
 */
import type { EntityState, Trit } from '../base/types.js';
import { LedgerError } from '../base/errors.js';
import type { EventInfo, Ledger, VerseInfo } from '../ledger/index.js';
import type { Store, VerseWorldRow } from '../store/index.js';
import type { VerseWorld } from './verses.js';
import type { World } from './world.js';

/** A verse world as the record last saw it. */
export interface RecordedWorld {
  id: string;
  parentId: string | null;
  snapshotId: string | null;
  /** The record's state: `collapsed`, `destroyed`, `failed`, or `lost` (its runtime ended without closing). */
  state: EntityState;
  trit: Trit | null;
  memoryMib: number | null;
  vcpus: number | null;
  diskMib: number | null;
  bootTimeMs: number | null;
  createdAt: string | null;
  resolvedAt: string | null;
}

/** One child verse of an event. */
export interface EventVerse {
  /** Ledger verse id, `<event>/<name>`. */
  verse: string;
  name: string;
  trit: Trit;
  probability: string;
  /** The verse lost a resolution, or descends from a verse that did. */
  collapsed: boolean;
  /** After its event's resolution: true for the winner, false for a loser; null before. */
  outcome: boolean | null;
  /** Its world, when this runtime holds it (the event is live). */
  world: World | null;
  /** Otherwise its world as the record last saw it; null when the record has no row for it. */
  recorded: RecordedWorld | null;
}

/** A push-down event. */
export interface VerseEvent {
  event: string;
  parentVerse: string;
  /** The world that was pushed down and the snapshot taken then; null where neither runtime nor record knows. */
  sourceWorldId: string | null;
  snapshotId: string | null;
  gf3Sum: number;
  /** `collapsed`: the verse this event split has itself collapsed in an outer resolution. */
  state: 'open' | 'resolved' | 'collapsed';
  winner: string | null;
  oracleSource: string | null;
  wev: Record<string, bigint> | null;
  /** This runtime made the push-down and holds its worlds; false for an earlier runtime's event. */
  live: boolean;
  verses: EventVerse[];
}

/** Past this many events without worlds, read every `verse_worlds` row rather than list the events in SQL. */
const IN_LIST_MAX = 500;

function recordedWorld(row: VerseWorldRow): RecordedWorld | null {
  const e = row.world;
  if (!e) return null;
  return {
    id: e.entityId,
    parentId: e.parentId,
    snapshotId: e.snapshotId,
    state: e.state,
    trit: e.trit,
    memoryMib: e.memoryMib,
    vcpus: e.vcpuCount,
    diskMib: row.diskMib,
    bootTimeMs: e.bootTimeMs,
    createdAt: e.createdAt,
    resolvedAt: e.resolvedAt,
  };
}

/**
 * The events of the ledger, oldest first (or only `only`, which must exist: `LedgerError` `UNKNOWN_EVENT`
 * otherwise). `held` gives the verse worlds this runtime holds for an event.
 */
export async function readEvents(
  ledger: Ledger,
  held: (event: string) => readonly VerseWorld[] | undefined,
  record: Store | undefined,
  only?: string,
): Promise<VerseEvent[]> {
  const [allEvents, allVerses] = await Promise.all([ledger.events(), ledger.verses()]);
  const events = only === undefined ? allEvents : allEvents.filter((e) => e.id === only);
  if (only !== undefined && events.length === 0) {
    throw new LedgerError(`no push-down event "${only}" in the ledger`, { reason: 'UNKNOWN_EVENT', event: only });
  }
  const verses = new Map(allVerses.map((v) => [v.id, v]));
  const past = events.filter((e) => held(e.id) === undefined).map((e) => e.id);
  const rows = new Map<string, VerseWorldRow>();
  if (record && past.length > 0) {
    for (const r of await record.verseWorlds(past.length > IN_LIST_MAX ? {} : { events: past })) rows.set(r.verse, r);
  }
  return events.map((e) => describe(e, verses, held(e.id), rows));
}

function describe(e: EventInfo, verses: Map<string, VerseInfo>, live: readonly VerseWorld[] | undefined, rows: Map<string, VerseWorldRow>): VerseEvent {
  const byVerse = new Map((live ?? []).map((v) => [v.verse, v]));
  const children = e.children.map((id): EventVerse => {
    const info = verses.get(id);
    const mine = byVerse.get(id);
    const row = rows.get(id);
    return {
      verse: id,
      name: info?.name ?? id.slice(e.id.length + 1),
      trit: info?.trit ?? 0,
      probability: info?.probability ?? '0',
      collapsed: info?.collapsed ?? false,
      outcome: info?.outcome ?? null,
      world: mine?.world ?? null,
      recorded: mine || !row ? null : recordedWorld(row),
    };
  });
  const first = live?.[0]?.world;
  const firstRow = e.children.map((id) => rows.get(id)).find((r) => r !== undefined);
  return {
    event: e.id,
    parentVerse: e.parent,
    sourceWorldId: first ? first.parentId : (firstRow?.sourceWorldId ?? null),
    snapshotId: first ? first.snapshotId : (firstRow?.snapshotId ?? null),
    gf3Sum: e.gf3Sum,
    state: verses.get(e.parent)?.collapsed ? 'collapsed' : e.resolved ? 'resolved' : 'open',
    winner: e.winner,
    oracleSource: e.oracleSource,
    wev: e.wev,
    live: live !== undefined,
    verses: children,
  };
}
