/**
 * @module
 * Public types of the Multiverse Finance ledger (docs/ledger.md). Amounts are `bigint`; probabilities are decimal
 * strings with at most 18 decimals (stored as fixed-point integers scaled by 10^18).
 */

import type { Trit } from '../base/types.js';

export type { Trit };

/** Id of the root verse (the whole outcome space). Child ids are `${event}/${name}`. */
export const ROOT_VERSE = 'root';

/** Fixed-point scale of probabilities: 1.0 is `10n ** 18n`. */
export const PROBABILITY_SCALE = 10n ** 18n;

/** Largest amount any single balance may hold (the range of DuckDB `UHUGEINT`, 2^128 − 1). */
export const MAX_AMOUNT = (1n << 128n) - 1n;

/**
 * Why an operation was rejected; carried as `details.reason` of the thrown `LedgerError`.
 * A rejected operation changes nothing (in memory or on disk) and is not journaled.
 */
export type LedgerReason =
  | 'INSUFFICIENT_BALANCE'
  | 'COLLAPSED_VERSE'
  | 'EVENT_RESOLVED'
  | 'UNKNOWN_VERSE'
  | 'UNKNOWN_EVENT'
  | 'DUPLICATE_EVENT'
  | 'NOT_A_PARTITION'
  | 'BAD_PROBABILITIES'
  | 'GF3_UNBALANCED'
  | 'ROOT_ONLY'
  | 'INVALID_AMOUNT'
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'COMMIT_FAILED'
  | 'SCHEMA_VERSION'
  | 'CORRUPT_JOURNAL';

/** One child of a partition as the caller describes it. */
export interface ChildSpec {
  /** Unique within the event; no `/`. The child's verse id becomes `${event}/${name}`. */
  name: string;
  /** Share of the parent, e.g. `'0.45'` or `0.45`; at most 18 decimals; the children sum to exactly 1. */
  probability: string | number;
  /** GF(3) label; the children's trits must sum to 0 mod 3 unless `allowUnbalancedTrits`. */
  trit: Trit;
}

/** Argument of `Ledger.partition`. */
export interface PartitionSpec {
  /** Globally unique id of the event (the partition). */
  event: string;
  children: readonly ChildSpec[];
  /** Accept trits that do not sum to 0 mod 3 (the sum is still recorded as `gf3Sum`). */
  allowUnbalancedTrits?: boolean;
}

export type { VerseInfo } from '../base/types.js';

/** An event (partition) as `Ledger.events()` reports it. */
export interface EventInfo {
  id: string;
  parent: string;
  children: string[];
  /** Plain sum of the children's trits (balanced iff ≡ 0 mod 3). */
  gf3Sum: number;
  allowUnbalancedTrits: boolean;
  resolved: boolean;
  winner: string | null;
  oracleSource: string | null;
  /** Per asset, what evaporated with the losers at resolution; `null` before. */
  wev: Record<string, bigint> | null;
}

/** One non-zero balance entry. */
export interface BalanceRow {
  verse: string;
  owner: string;
  asset: string;
  amount: bigint;
}

/** What `Ledger.resolve` returns. */
export interface ResolveResult {
  /** Per asset, the total balance that evaporated with the collapsed verses (only assets that lost something). */
  wev: Record<string, bigint>;
  /** Verses collapsed by this resolution: the losers and their live descendants, depth-first. */
  collapsed: string[];
}

/** Every journaled operation, normalised (probabilities canonical, options explicit). */
export type LedgerOp =
  | { op: 'deposit'; args: { owner: string; asset: string; amount: bigint } }
  | { op: 'withdraw'; args: { owner: string; asset: string; amount: bigint } }
  | { op: 'transfer'; args: { verse: string; asset: string; from: string; to: string; amount: bigint } }
  | {
      op: 'partition';
      args: {
        parent: string;
        event: string;
        children: { name: string; probability: string; trit: Trit }[];
        allowUnbalancedTrits: boolean;
      };
    }
  | { op: 'pushDown'; args: { event: string; owner: string; asset: string; amount: bigint } }
  | { op: 'pullUp'; args: { event: string; owner: string; asset: string; amount: bigint } }
  | { op: 'resolve'; args: { event: string; winner: string; oracleSource: string } };

/** Name of an operation type. */
export type LedgerOpName = LedgerOp['op'];

/** One row of the append-only journal: sequence number (1, 2, 3, … without gaps), ISO timestamp, operation. */
export type JournalEntry = LedgerOp & { seq: number; ts: string };

/** Result of `Ledger.check()`. */
export interface CheckReport {
  ok: boolean;
  /** Human-readable descriptions of every violation found (empty when `ok`). */
  problems: string[];
  /** Journal length replayed. */
  ops: number;
  /** Number of non-zero balance entries. */
  balances: number;
}
