/**
 * @module
 * The tree's shape and positions, derived from the facts: a snapshot hangs under the world it froze; a
 * world under the snapshot it was started from (else the world it was branched from); a push-down event
 * under its snapshot, with one child per verse, its world or, when none is known, the verse alone. Roots
 * are worlds made from nothing (or whose parent is not shown). Depth runs left to right, siblings top to
 * bottom in the order they were made; a parent sits level with the middle of its children.
 */
import type { EventNode, EventVerseNode, WorldNode } from './model.js';
import type { Model } from './state.js';

export const NODE_W = 200;
export const NODE_H = 58;
export const COL = 244;
export const ROW = 70;

export interface Item {
  /** A world or snapshot id, `event:<id>`, or `verse:<verse id>` for a verse without a known world. */
  key: string;
  kind: 'world' | 'snapshot' | 'event' | 'verse';
  node: WorldNode | null;
  event: EventNode | null;
  /** For a verse world (or a bare verse): its verse of its event. */
  verse: EventVerseNode | null;
  parent: Item | null;
  children: Item[];
  depth: number;
  x: number;
  y: number;
  /** Order among siblings. */
  sort: string;
}

export interface Layout {
  items: Map<string, Item>;
  roots: Item[];
  /** Depth-first order: what Up and Down walk through. */
  order: Item[];
  width: number;
  height: number;
}

function item(key: string, kind: Item['kind'], sort: string): Item {
  return { key, kind, node: null, event: null, verse: null, parent: null, children: [], depth: 0, x: 0, y: 0, sort };
}

export function layout(model: Model): Layout {
  const items = new Map<string, Item>();
  for (const n of model.nodes.values()) {
    const it = item(n.id, n.kind, `${n.createdAt ?? ''} ${n.id}`);
    it.node = n;
    items.set(n.id, it);
  }
  const parentOf = new Map<string, string>();
  for (const e of model.events.values()) {
    const key = `event:${e.id}`;
    const ev = item(key, 'event', '');
    ev.event = e;
    items.set(key, ev);
    const at = e.snapshotId && items.has(e.snapshotId) ? e.snapshotId : e.sourceWorldId && items.has(e.sourceWorldId) ? e.sourceWorldId : null;
    if (at) parentOf.set(key, at);
    e.verses.forEach((v, i) => {
      let it = v.worldId ? items.get(v.worldId) : undefined;
      if (it?.kind !== 'world') {
        it = item(`verse:${v.verse}`, 'verse', '');
        items.set(it.key, it);
      }
      it.verse = v;
      it.event = e;
      it.sort = String(i).padStart(4, '0');
      parentOf.set(it.key, key);
    });
    const first = e.verses.map((v) => (v.worldId ? model.nodes.get(v.worldId)?.createdAt : null)).find((c) => c);
    ev.sort = `${first ?? (e.snapshotId ? model.nodes.get(e.snapshotId)?.createdAt : '') ?? ''} ${e.id}`;
  }
  for (const it of items.values()) {
    if (parentOf.has(it.key) || !it.node) continue;
    const n = it.node;
    const up = n.kind === 'snapshot' ? n.parentId : n.snapshotId && items.has(n.snapshotId) ? n.snapshotId : n.parentId;
    if (up && items.has(up)) parentOf.set(it.key, up);
  }
  // Link, refusing any link that would close a loop (the facts never should, but a page must not hang).
  const roots: Item[] = [];
  for (const it of items.values()) {
    const up = parentOf.get(it.key);
    const p = up === undefined ? undefined : items.get(up);
    if (p && !reaches(p, it, parentOf, items)) {
      it.parent = p;
      p.children.push(it);
    } else roots.push(it);
  }
  const bySort = (a: Item, b: Item) => (a.sort < b.sort ? -1 : a.sort > b.sort ? 1 : 0);
  roots.sort(bySort);
  for (const it of items.values()) it.children.sort(bySort);
  return place(items, roots);
}

/** Whether walking up from `from` reaches `target`. */
function reaches(from: Item, target: Item, parentOf: Map<string, string>, items: Map<string, Item>): boolean {
  let key: string | undefined = from.key;
  for (let hops = 0; key !== undefined && hops <= items.size; hops++) {
    if (key === target.key) return true;
    key = parentOf.get(key);
  }
  return false;
}

/** Positions, depth first without recursion (chains of branches can be thousands deep). */
function place(items: Map<string, Item>, roots: Item[]): Layout {
  const order: Item[] = [];
  let row = 0;
  let maxDepth = 0;
  const stack: { it: Item; depth: number; done: boolean }[] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push({ it: roots[i] as Item, depth: 0, done: false });
  while (stack.length > 0) {
    const top = stack.pop() as { it: Item; depth: number; done: boolean };
    const { it, depth } = top;
    if (!top.done) {
      it.depth = depth;
      it.x = depth * COL;
      maxDepth = Math.max(maxDepth, depth);
      order.push(it);
      if (it.children.length === 0) {
        it.y = row++ * ROW;
        continue;
      }
      stack.push({ it, depth, done: true });
      for (let i = it.children.length - 1; i >= 0; i--) stack.push({ it: it.children[i] as Item, depth: depth + 1, done: false });
      continue;
    }
    const first = it.children[0] as Item;
    const last = it.children[it.children.length - 1] as Item;
    it.y = (first.y + last.y) / 2;
  }
  return { items, roots, order, width: maxDepth * COL + NODE_W, height: Math.max(1, row) * ROW - (ROW - NODE_H) };
}
