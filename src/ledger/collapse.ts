/**
 * @module
 * Resolution: the oracle's winner stays, every other child of the event and all of their descendants
 * collapse, and their balances evaporate into the event's WEV.
 */

import { splitPair, type Effect, type EventRecord, type LedgerState } from './state.js';
import type { ResolveResult } from './types.js';

/** Resolve an already-validated event in place, recording after-images in `effect`. */
export function collapseLosers(state: LedgerState, e: EventRecord, winner: string, oracleSource: string, effect: Effect): ResolveResult {
  const wev: Record<string, bigint> = {};
  const collapsed: string[] = [];
  for (const child of e.children) {
    const v = state.verseMap.get(child);
    if (!v) continue;
    v.resolved = true;
    v.outcome = child === winner;
    if (child === winner) effect.verses.push({ row: { ...v }, created: false });
    else collapseTree(state, child, wev, collapsed, effect);
  }
  e.resolved = true;
  e.winner = winner;
  e.oracleSource = oracleSource;
  e.wev = { ...wev };
  e.resolvedSeq = effect.seq;
  effect.events.push({ row: { ...e, children: [...e.children], wev: { ...wev } }, created: false });
  return { wev, collapsed };
}

// Depth-first with an explicit stack: subtrees can be deep and recursion would be bounded by the JS stack.
function collapseTree(state: LedgerState, top: string, wev: Record<string, bigint>, out: string[], effect: Effect): void {
  const stack = [top];
  while (stack.length > 0) {
    const id = stack.pop() as string;
    const v = state.verseMap.get(id);
    // Already collapsed by an earlier resolution inside the subtree: its balances are long gone.
    if (!v || v.collapsed) continue;
    v.collapsed = true;
    out.push(id);
    effect.verses.push({ row: { ...v }, created: false });
    const entries = state.balanceMap.get(id);
    if (entries) {
      for (const [key, amount] of entries) {
        const [owner, asset] = splitPair(key);
        wev[asset] = (wev[asset] ?? 0n) + amount;
        effect.balances.push({ verse: id, owner, asset, amount: 0n });
      }
      state.balanceMap.delete(id);
    }
    const kids = v.events.flatMap((ev) => state.eventMap.get(ev)?.children ?? []);
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i] as string);
  }
}
