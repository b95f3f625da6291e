/**
 * @module
 * What the page knows: the worlds, snapshots, events and balances of the last tree it fetched, with every
 * live update applied since. Views subscribe and are told once per animation frame, however many updates
 * arrived in it.
 */
import type { Balance, EventNode, TreeSnapshot, WorldNode } from './model.js';

export class Model {
  nodes = new Map<string, WorldNode>();
  events = new Map<string, EventNode>();
  /** `verse\0owner\0asset` → balance. */
  balances = new Map<string, Balance>();
  daemon: TreeSnapshot['daemon'] | null = null;
  truncated = false;
  seq = 0;
  private readonly listeners = new Set<() => void>();
  private pending = false;

  load(tree: TreeSnapshot): void {
    this.nodes = new Map(tree.nodes.map((n) => [n.id, n]));
    this.events = new Map(tree.events.map((e) => [e.id, e]));
    this.balances = new Map(tree.balances.map((b) => [key(b), b]));
    this.daemon = tree.daemon;
    this.truncated = tree.truncated;
    this.seq = tree.seq;
    this.changed();
  }

  /** Apply one update unless the tree fetched already reflects it. */
  apply(seq: number, fn: () => void): void {
    if (seq <= this.seq) return;
    this.seq = seq;
    fn();
    this.changed();
  }

  putNode(n: WorldNode): void {
    const old = this.nodes.get(n.id);
    // An update carries no usage (it is read on demand): keep the last known.
    this.nodes.set(n.id, old && n.memoryBytes === null && n.diskBytes === null && n.live ? { ...n, memoryBytes: old.memoryBytes, diskBytes: old.diskBytes } : n);
  }

  putEvent(e: EventNode): void {
    this.events.set(e.id, e);
  }

  putBalances(list: Balance[]): void {
    for (const b of list) {
      if (b.amount === '0') this.balances.delete(key(b));
      else this.balances.set(key(b), b);
    }
  }

  balancesIn(verse: string): Balance[] {
    return [...this.balances.values()].filter((b) => b.verse === verse);
  }

  /** Per asset, the sum held in `verse` over its owners. */
  totalsIn(verse: string): Record<string, string> {
    const out: Record<string, bigint> = {};
    for (const b of this.balancesIn(verse)) out[b.asset] = (out[b.asset] ?? 0n) + BigInt(b.amount);
    return Object.fromEntries(Object.entries(out).map(([a, x]) => [a, x.toString()]));
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      for (const fn of this.listeners) fn();
    });
  }
}

function key(b: Balance): string {
  return `${b.verse}\u0000${b.owner}\u0000${b.asset}`;
}
