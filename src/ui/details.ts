/**
 * @module
 * What a node's page and the capacity panel show: one world or snapshot (live, else its record row) with the
 * ledger verse it lives in and that verse's balances, its last execs and its events; one event with the
 * balances of its verses; the machine's room for more worlds.
 */
import { statfs } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { WorldRuntime } from '../core/runtime.js';
import type { Feed } from './feed.js';
import { balances, eventNode, recordNode, snapshotNode, worldNode } from './tree.js';
import type { Capacity, EventDetails, EventNode, NodeDetails, WorldNode } from './web/model.js';

async function findNode(rt: WorldRuntime, id: string, events: EventNode[]): Promise<WorldNode | null> {
  const live = rt.worlds().find((w) => w.id === id);
  if (live) return worldNode(live, rt.driver.name, (await rt.usage([live])).get(id));
  const snap = rt.snapshots().find((s) => s.id === id);
  if (snap) return snapshotNode(snap, (await rt.usage([snap])).get(id));
  if (!rt.record) return null;
  const [row] = await rt.record.entities({ id });
  if (!row) return null;
  const name = events.flatMap((e) => e.verses).find((v) => v.worldId === id)?.name ?? null;
  return recordNode(row, name);
}

/** One world or snapshot, or null when neither the runtime nor the record knows `id`. */
export async function nodeDetails(rt: WorldRuntime, feed: Feed, id: string): Promise<NodeDetails | null> {
  const events = (await rt.events()).map(eventNode);
  const node = await findNode(rt, id, events);
  if (!node) return null;
  const event = events.find((e) => e.verses.some((v) => v.worldId === id)) ?? null;
  const verse = event?.verses.find((v) => v.worldId === id)?.verse ?? rt.ledger.root;
  const children = events.filter((e) => (node.kind === 'snapshot' ? e.snapshotId === id : e.sourceWorldId === id));
  return {
    node,
    verse,
    balances: (await balances(rt)).filter((b) => b.verse === verse),
    execs: feed.execsOf(id),
    event,
    children,
  };
}

export async function eventDetails(rt: WorldRuntime, id: string): Promise<EventDetails | null> {
  const e = (await rt.events()).find((x) => x.event === id);
  if (!e) return null;
  const event = eventNode(e);
  const verses = new Set([event.parentVerse, ...event.verses.map((v) => v.verse)]);
  return { event, balances: (await balances(rt)).filter((b) => verses.has(b.verse)) };
}

/** MemAvailable (what can be had without swapping), where /proc tells; else the kernel's free memory. */
function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {}
  return freemem();
}

export async function capacity(rt: WorldRuntime, maxWorlds: number): Promise<Capacity> {
  let disk: Capacity['disk'] = null;
  try {
    const s = await statfs(rt.home);
    disk = { path: rt.home, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {}
  return {
    liveWorlds: rt.worlds().length,
    maxWorlds,
    snapshots: rt.snapshots().length,
    memory: { totalBytes: totalmem(), availableBytes: availableMemory() },
    disk,
  };
}
