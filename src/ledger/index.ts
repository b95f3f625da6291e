/**
 * @module
 * The Multiverse Finance ledger: verses, partitions, push-down/pull-up, oracle resolution, with DuckDB
 * persistence and group commit. See docs/ledger.md.
 */

export { Ledger } from './ledger.js';
export type { CommittedOp, LedgerOptions, LedgerSource } from './ledger.js';
export { replay, auditState } from './audit.js';
export type { Replayed } from './audit.js';
export { applyOp } from './apply.js';
export type { Applied } from './apply.js';
export { LedgerState } from './state.js';
export { LEDGER_SCHEMA_VERSION } from './schema.js';
export { parseProbability, formatProbability, reasonOf } from './validate.js';
export { ROOT_VERSE, PROBABILITY_SCALE, MAX_AMOUNT } from './types.js';
export type {
  BalanceRow,
  CheckReport,
  ChildSpec,
  EventInfo,
  JournalEntry,
  LedgerOp,
  LedgerOpName,
  LedgerReason,
  PartitionSpec,
  ResolveResult,
  Trit,
  VerseInfo,
} from './types.js';
