/**
 * @module
 * Runtime and ledger objects into the JSON shapes of the wire (src/protocol/results.ts). Ledger amounts are
 * `bigint`s, which JSON cannot carry exactly, so they leave as decimal strings (`100n` → `'100'`) and come
 * back through `parseAmount` (src/protocol/wire.ts).
 */
import type { ExecResult } from '../base/types.js';
import type { VerseWorld } from '../core/verses.js';
import type { Snapshot, World } from '../core/world.js';
import type { AmountMap, ExecReply, SnapshotInfo, VerseWorldInfo, WorldInfo } from '../protocol/results.js';
import { parseAmount } from '../protocol/wire.js';

export function worldInfo(w: World): WorldInfo {
  return w.toJSON() as unknown as WorldInfo;
}

export function snapshotInfo(s: Snapshot): SnapshotInfo {
  return s.toJSON() as unknown as SnapshotInfo;
}

export function execReply(r: ExecResult): ExecReply {
  return { stdout: r.stdout, stderr: r.stderr, value: r.value ?? null, error: r.error ?? null, truncated: r.truncated, durationMs: r.durationMs };
}

export function verseWorldInfo(v: VerseWorld): VerseWorldInfo {
  return { verse: v.verse, name: v.name, trit: v.trit, probability: v.probability, world: worldInfo(v.world) };
}

/** `{ usd: 40n }` → `{ usd: '40' }`. */
export function amountMap(m: Record<string, bigint>): AmountMap {
  return Object.fromEntries(Object.entries(m).map(([asset, amount]) => [asset, amount.toString()]));
}

/** A copy of `value` with every `bigint` (at any depth) replaced by its decimal string. */
export function jsonSafe<T>(value: T): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

/** An action's amount (already canonical when it came through a route) as a `bigint`. */
export function toBigint(amount: string): bigint {
  return BigInt(parseAmount(amount, 'amount'));
}
