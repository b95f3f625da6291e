/**
 * @module
 * Runtime and ledger objects into the JSON shapes of the wire (src/protocol/results.ts). Ledger amounts are
 * `bigint`s, which JSON cannot carry exactly, so they leave as decimal strings (`100n` → `'100'`) and come
 * back through `parseAmount` (src/protocol/wire.ts).
 */
import type { ExecResult, WorldState } from '../base/types.js';
import type { EventVerse, RecordedWorld, VerseEvent } from '../core/events.js';
import type { VerseWorld } from '../core/verses.js';
import type { Snapshot, World } from '../core/world.js';
import type { AmountMap, ExecReply, SnapshotInfo, VerseEventInfo, VerseWorldInfo, WorldInfo } from '../protocol/results.js';
import { parseAmount } from '../protocol/wire.js';

export function worldInfo(w: World): WorldInfo {
  return w.toJSON();
}

export function snapshotInfo(s: Snapshot): SnapshotInfo {
  return s.toJSON();
}

export function execReply(r: ExecResult): ExecReply {
  return { stdout: r.stdout, stderr: r.stderr, value: r.value ?? null, error: r.error ?? null, truncated: r.truncated, durationMs: r.durationMs };
}

export function verseWorldInfo(v: VerseWorld): VerseWorldInfo {
  return { verse: v.verse, name: v.name, trit: v.trit, probability: v.probability, world: worldInfo(v.world) };
}

/**
 * A verse world of an earlier daemon as the record last saw it, in the shape of a live one: its `metadata` is
 * what the push-down gave it, and a world the record shows `lost` (or still `running`: its daemon ended
 * without saying) is `destroyed`, since no daemon holds it.
 */
function recordedWorldInfo(r: RecordedWorld, event: string, v: EventVerse): WorldInfo {
  const state: WorldState = r.state === 'collapsed' || r.state === 'failed' ? r.state : 'destroyed';
  return {
    id: r.id,
    parentId: r.parentId,
    snapshotId: r.snapshotId,
    state,
    trit: r.trit,
    metadata: { verse: v.name, trit: v.trit, event },
    memoryMib: r.memoryMib ?? 0,
    diskMib: r.diskMib ?? 0,
    vcpus: r.vcpus ?? 0,
    bootTimeMs: r.bootTimeMs ?? 0,
    createdAt: r.createdAt ?? new Date(0).toISOString(),
  };
}

/** A push-down event, live or read from the record, as the wire carries it. */
export function eventInfo(e: VerseEvent): VerseEventInfo {
  return {
    event: e.event,
    parentVerse: e.parentVerse,
    snapshotId: e.snapshotId,
    gf3Sum: e.gf3Sum,
    state: e.state,
    winner: e.winner,
    oracleSource: e.oracleSource,
    wev: e.wev ? amountMap(e.wev) : null,
    live: e.live,
    verses: e.verses.map((v) => ({
      verse: v.verse,
      name: v.name,
      trit: v.trit,
      probability: v.probability,
      world: v.world ? worldInfo(v.world) : v.recorded ? recordedWorldInfo(v.recorded, e.event, v) : null,
    })),
  };
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
