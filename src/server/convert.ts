/**
 * @module
 * Runtime and ledger objects into the JSON shapes of results.ts. Ledger amounts are `bigint`s, which JSON
 * cannot carry exactly, so they leave as decimal strings (`100n` → `'100'`) and come back through
 * {@link parseAmount}.
 */
import { InvalidArgumentError } from '../base/errors.js';
import type { ExecResult } from '../base/types.js';
import type { VerseWorld } from '../core/verses.js';
import type { Snapshot, World } from '../core/world.js';
import type { AmountMap, ExecReply, SnapshotInfo, VerseWorldInfo, WorldInfo } from './results.js';

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

/** Decimal digits only: no sign, no fraction, no exponent. 40 digits cover 2^128 − 1 with room to spare. */
const AMOUNT = /^[0-9]{1,40}$/;

/**
 * A request's amount (a decimal string, or a JSON integer within 2^53) as a canonical decimal string.
 * Negative numbers, fractions, exponents and unsafe integers are refused with `INVALID_ARGUMENT` (400); the
 * ledger itself refuses 0 and anything past 2^128 − 1 (`INVALID_AMOUNT`, also 400).
 *
 * @example
 * parseAmount('0100', 'body.amount') // '100'
 * parseAmount(7, 'body.amount')      // '7'
 * parseAmount(1.5, 'body.amount')    // throws InvalidArgumentError
 */
export function parseAmount(raw: unknown, where: string): string {
  if (typeof raw === 'number') {
    if (Number.isSafeInteger(raw) && raw >= 0) return String(raw);
    const hint = Number.isInteger(raw) && raw > 0 ? ' (integers past 2^53 lose precision in JSON: send the amount as a decimal string)' : '';
    throw new InvalidArgumentError(`${where}: expected a whole number ≥ 0, got ${raw}${hint}`, { where, received: raw });
  }
  if (typeof raw === 'string' && AMOUNT.test(raw)) return BigInt(raw).toString();
  const shown = typeof raw === 'string' ? JSON.stringify(raw.slice(0, 60)) : typeof raw;
  throw new InvalidArgumentError(`${where}: expected a whole number ≥ 0 as a decimal string of at most 40 digits, got ${shown}`, { where });
}

/** An action's amount (already canonical when it came through a route) as a `bigint`. */
export function toBigint(amount: string): bigint {
  return BigInt(parseAmount(amount, 'amount'));
}
