/**
 * @module
 * The facts the tree shows, read from the runtime (live worlds and snapshots, with what they use now), the
 * record (every world and snapshot ever made, newest first, up to a limit) and the ledger (events,
 * balances). A live object wins over its record row; what only the record knows is marked not live.
 */
import type { VerseEvent } from '../core/events.js';
import type { WorldRuntime } from '../core/runtime.js';
import type { Snapshot, World } from '../core/world.js';
import type { EntityRow } from '../store/index.js';
import type { Balance, EventNode, WorldNode } from './web/model.js';

/** Most worlds and snapshots one tree shows (the newest); older ones are counted in `hidden`. */
export const TREE_LIMIT = 5000;

type UsageOf = { diskBytes: number | null; memoryBytes: number | null } | undefined;

/** A live world; `driver` is the runtime's (`process` worlds are the record's `sandbox`es). */
export function worldNode(w: World, driver: string, usage?: UsageOf): WorldNode {
  // Verse worlds have `v-` ids, and their push-down put the verse's name in their metadata.
  const verse = w.id.startsWith('v-');
  return {
    id: w.id,
    kind: 'world',
    type: verse ? 'verse' : driver === 'microvm' ? 'microvm' : 'sandbox',
    parentId: w.parentId,
    snapshotId: w.snapshotId,
    state: w.state,
    live: w.state === 'running' || w.state === 'failed',
    trit: w.trit,
    name: verse && typeof w.metadata.verse === 'string' ? w.metadata.verse : null,
    memoryMib: w.memoryMib,
    diskMib: w.diskMib,
    vcpus: w.vcpus,
    memoryBytes: usage?.memoryBytes ?? null,
    diskBytes: usage?.diskBytes ?? null,
    bootTimeMs: w.bootTimeMs,
    snapshotTimeMs: null,
    createdAt: w.createdAt.toISOString(),
    endedAt: w.state === 'running' || w.state === 'failed' ? null : new Date().toISOString(),
    failure: w.failure ?? null,
  };
}

export function snapshotNode(s: Snapshot, usage?: UsageOf): WorldNode {
  return {
    id: s.id,
    kind: 'snapshot',
    type: 'snapshot',
    parentId: s.worldId,
    snapshotId: null,
    state: s.state,
    live: s.state === 'ready',
    trit: null,
    name: s.name,
    memoryMib: s.memoryMib,
    diskMib: s.diskMib,
    vcpus: s.vcpus,
    memoryBytes: usage?.memoryBytes ?? null,
    diskBytes: usage?.diskBytes ?? null,
    bootTimeMs: null,
    snapshotTimeMs: s.snapshotTimeMs,
    createdAt: s.createdAt.toISOString(),
    endedAt: s.state === 'ready' ? null : new Date().toISOString(),
    failure: null,
  };
}

/** A record row no live object stands for: its runtime's `running` and `snapshotted` are as good as lost. */
export function recordNode(e: EntityRow, verseName: string | null): WorldNode {
  const snapshot = e.entityType === 'snapshot';
  const state = e.state === 'snapshotted' ? 'destroyed' : e.state === 'running' ? 'lost' : e.state;
  return {
    id: e.entityId,
    kind: snapshot ? 'snapshot' : 'world',
    type: e.entityType,
    parentId: e.parentId,
    snapshotId: snapshot ? null : e.snapshotId,
    state,
    live: false,
    trit: e.trit,
    name: verseName,
    memoryMib: e.memoryMib,
    diskMib: null,
    vcpus: e.vcpuCount,
    memoryBytes: null,
    diskBytes: null,
    bootTimeMs: snapshot ? null : e.bootTimeMs,
    snapshotTimeMs: null,
    createdAt: e.createdAt,
    endedAt: e.resolvedAt,
    failure: null,
  };
}

export function eventNode(e: VerseEvent): EventNode {
  return {
    id: e.event,
    parentVerse: e.parentVerse,
    sourceWorldId: e.sourceWorldId,
    snapshotId: e.snapshotId,
    gf3Sum: e.gf3Sum,
    state: e.state,
    winner: e.winner,
    oracleSource: e.oracleSource,
    wev: e.wev ? Object.fromEntries(Object.entries(e.wev).map(([a, x]) => [a, x.toString()])) : null,
    live: e.live,
    verses: e.verses.map((v) => ({
      verse: v.verse,
      name: v.name,
      trit: v.trit,
      probability: v.probability,
      collapsed: v.collapsed,
      outcome: v.outcome,
      worldId: v.world?.id ?? v.recorded?.id ?? null,
    })),
  };
}

export async function balances(rt: WorldRuntime): Promise<Balance[]> {
  return (await rt.ledger.balances()).map((b) => ({ verse: b.verse, owner: b.owner, asset: b.asset, amount: b.amount.toString() }));
}

/** Every world and snapshot the tree shows, and whether older record rows were left out. */
export async function treeNodes(rt: WorldRuntime, events: readonly VerseEvent[], limit = TREE_LIMIT): Promise<{ nodes: WorldNode[]; truncated: boolean }> {
  const worlds = rt.worlds();
  const snapshots = rt.snapshots();
  const usage = await rt.usage([...worlds, ...snapshots]);
  const nodes = new Map<string, WorldNode>();
  for (const w of worlds) nodes.set(w.id, worldNode(w, rt.driver.name, usage.get(w.id)));
  for (const s of snapshots) nodes.set(s.id, snapshotNode(s, usage.get(s.id)));
  let truncated = false;
  if (rt.record) {
    // One row more than shown, to know whether older ones were left out.
    const rows = await rt.record.entities({ limit: limit + 1 });
    if (rows.length > limit) {
      truncated = true;
      rows.length = limit;
    }
    const verseNames = new Map<string, string>();
    for (const e of events) for (const v of e.verses) if (v.recorded) verseNames.set(v.recorded.id, v.name);
    for (const row of rows) if (!nodes.has(row.entityId)) nodes.set(row.entityId, recordNode(row, verseNames.get(row.entityId) ?? null));
  }
  return { nodes: [...nodes.values()], truncated };
}
