/**
 * Independent checks for the ledger tests: enumerate every still-possible outcome explicitly and verify
 * conservation by brute force, without using the library's own `auditState`.
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LedgerState } from '../../src/ledger/index.js';

/** Net flows the test itself accumulated from accepted operations. */
export interface Flows {
  /** `${owner}|${asset}` → deposits − withdrawals. */
  deposits: Map<string, bigint>;
  /** `${verse}|${owner}|${asset}` → transfers received − sent inside that verse. */
  transfers: Map<string, bigint>;
}

export function emptyFlows(): Flows {
  return { deposits: new Map(), transfers: new Map() };
}

export function bump(m: Map<string, bigint>, k: string, d: bigint): void {
  m.set(k, (m.get(k) ?? 0n) + d);
}

/**
 * Every outcome still possible, as the set of live verses containing it: an outcome picks one live child
 * for every event under every verse it contains (events under one verse are independent, so outcomes
 * multiply).
 */
export function outcomes(state: LedgerState, verse = 'root'): string[][] {
  const v = state.verseMap.get(verse);
  if (!v || v.collapsed) return [];
  let acc: string[][] = [[verse]];
  for (const ev of v.events) {
    const kids = (state.eventMap.get(ev)?.children ?? []).filter((c) => !state.verseMap.get(c)?.collapsed);
    if (kids.length === 0) continue;
    const choices = kids.flatMap((c) => outcomes(state, c));
    acc = acc.flatMap((prefix) => choices.map((ch) => [...prefix, ...ch]));
  }
  return acc;
}

/**
 * Assert: no entry ≤ 0; for every outcome and every asset, Σ balances over its verses = net deposits of
 * the asset; and per owner, Σ (balance − net transfers received in that verse) = the owner's net deposits.
 */
export function assertInvariant(state: LedgerState, flows: Flows): void {
  const rows = state.balanceRows();
  for (const r of rows) assert.ok(r.amount > 0n, `entry ${r.verse}/${r.owner}/${r.asset} is ${r.amount}`);
  const owners = new Set<string>();
  const assets = new Set<string>();
  for (const r of rows) {
    owners.add(`${r.owner}|${r.asset}`);
    assets.add(r.asset);
  }
  for (const k of flows.deposits.keys()) {
    owners.add(k);
    assets.add(k.split('|')[1] as string);
  }
  const outs = outcomes(state);
  assert.ok(outs.length > 0, 'the root must always leave at least one possible outcome');
  for (const out of outs) {
    for (const asset of assets) {
      let held = 0n;
      let deposited = 0n;
      for (const v of out) for (const r of rows) if (r.verse === v && r.asset === asset) held += r.amount;
      for (const [k, d] of flows.deposits) if (k.split('|')[1] === asset) deposited += d;
      assert.equal(held, deposited, `asset ${asset}, outcome ${out.join(' > ')}`);
    }
    for (const oa of owners) {
      const [owner, asset] = oa.split('|') as [string, string];
      let sum = 0n;
      for (const v of out) sum += state.balance(v, owner, asset) - (flows.transfers.get(`${v}|${owner}|${asset}`) ?? 0n);
      assert.equal(sum, flows.deposits.get(oa) ?? 0n, `owner ${owner} asset ${asset}, outcome ${out.join(' > ')}`);
    }
  }
}

/** Everything observable about a state, for "nothing changed" comparisons. */
export function snapshot(state: LedgerState): unknown {
  return { seq: state.seq, balances: state.balanceRows(), verses: state.verseInfos(), events: state.eventInfos() };
}

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = 'ledger-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
