/**
 * @module
 * The JSON shapes the daemon answers with: each entry of the action table (actions.ts) names one as its
 * result. These are the wire's own types: they import nothing but base, and the daemon, where the runtime's
 * types meet them, is type-checked to send values that fit. `openapi.json` describes the same shapes; the
 * server tests hold every response to it.
 */
import type { MetricRow, MetricSummary } from '../base/record.js';
import type { ExecError, RunResult, SnapshotJSON, Trit, VerseInfo, WorldJSON } from '../base/types.js';

export type { BranchRow, EntityRow, MetricRow, MetricSummary, ResolutionRow } from '../base/record.js';

/** What a world or snapshot uses now: bytes it wrote that still exist (null where the backend cannot tell), resident memory. */
export interface Usage {
  diskBytes: number | null;
  memoryBytes: number | null;
}

/** A world as `World.toJSON()` gives it. */
export interface WorldInfo extends WorldJSON {
  /** On GET of one world and in the list: what it uses now. */
  usage?: Usage;
}

/** A snapshot as `Snapshot.toJSON()` gives it. */
export interface SnapshotInfo extends SnapshotJSON {
  usage?: Usage;
}

/** `ExecResult` with `value` and `error` always present (null when absent), as `POST /v1/sandboxes/{id}/execute` has always answered. */
export interface ExecReply {
  stdout: string;
  stderr: string;
  value: string | null;
  error: ExecError | null;
  truncated: boolean;
  durationMs: number;
}

export type RunReply = RunResult;

export interface DestroyReply {
  id: string;
  state: 'destroyed';
}


export interface MetricSummaryReply extends MetricSummary {
  /** The target for this operation in ms (create ~250, snapshot < 250, branch < 250); null when it has none. */
  targetMs: number | null;
  /** p99 ≤ target; null without a target or without samples. */
  withinTarget: boolean | null;
}

export interface MetricsReply {
  summary: MetricSummaryReply[];
  /** The most recent `runtime_metrics` rows (as many as `limit`, default 20). */
  rows: MetricRow[];
}

export interface HealthReply {
  ok: true;
  pid: number;
  home: string;
  version: string;
  uptimeMs: number;
  worlds: number;
  snapshots: number;
  /** Whether the daemon's runtime keeps a DuckDB record (entities, branches, ... answer only when true). */
  record: boolean;
  transport: 'unix' | 'tcp';
}

export interface DoctorReply {
  node: string;
  platform: string;
  home: string;
  /** One report per driver: its name, whether it is available, notes. */
  drivers: Record<string, unknown>[];
  daemon: { pid: number; version: string; socket: string; tcp: string | null; maxWorlds: number; record: boolean };
}

/** What `POST /v1/ui/login` answers: a one-time login link to the web view on the daemon's TCP listener. */
export interface UiLoginReply {
  /** `http://127.0.0.1:PORT/ui/login?code=…`: good for one visit, until `expiresAt`. */
  url: string;
  /** The TCP listener the view is served on. */
  tcp: string;
  expiresAt: string;
}

/** One child verse of a push-down and the world that lives in it. */
export interface VerseWorldInfo {
  /** Ledger verse id, `${event}/${name}`. */
  verse: string;
  name: string;
  trit: Trit;
  /** Canonical decimal string relative to the parent verse, e.g. `'0.45'`. */
  probability: string;
  /** The verse's world (state `collapsed` once its verse lost a resolution). */
  world: WorldInfo;
}

/**
 * A child verse of an event as `GET /v1/verses` lists it: in a live event its world is always there; in an
 * earlier daemon's event (`live: false`) it is the world as the record last saw it, or null when the record
 * has no row for it.
 */
export interface EventVerseInfo extends Omit<VerseWorldInfo, 'world'> {
  world: WorldInfo | null;
}

/** What `verse.pushDown` answers (`PushDownResult` as JSON). */
export interface PushDownReply {
  event: string;
  /** The verse the pushed world lived in (`root` for a world outside any verse). */
  parentVerse: string;
  snapshot: SnapshotInfo;
  verses: VerseWorldInfo[];
  gf3Sum: number;
  pushDownTimeMs: number;
}

/** Per asset, an amount as a decimal string. */
export type AmountMap = Record<string, string>;

/**
 * A push-down event. `state`: `open` until resolved, `resolved` after, `collapsed` when the verse it split has
 * itself collapsed (a loser of an outer resolution). `live`: this daemon made it and holds its worlds; an
 * earlier daemon's event on the same home is read from the ledger and the record.
 */
export interface VerseEventInfo {
  event: string;
  parentVerse: string;
  snapshotId: string | null;
  gf3Sum: number;
  state: 'open' | 'resolved' | 'collapsed';
  /** Winning verse id once resolved. */
  winner: string | null;
  oracleSource: string | null;
  wev: AmountMap | null;
  live: boolean;
  verses: EventVerseInfo[];
}

export interface VerseExecItem {
  verse: string;
  name: string;
  world: string;
  /** The code ran and did not raise. */
  ok: boolean;
  /** The exec result when the code ran (it may still have raised: see `result.error`). */
  result: ExecReply | null;
  /** Why the code could not run at all (e.g. the verse collapsed), else null. */
  error: string | null;
}

export interface VerseExecReply {
  event: string;
  results: VerseExecItem[];
}

/** What `verse.pullUp` answers (`PullUpResult` as JSON). */
export interface PullUpReply {
  event: string;
  winner: VerseWorldInfo;
  /** Verse ids collapsed: the losers and their descendants. */
  collapsed: string[];
  /** Ids of the worlds destroyed with them (state `collapsed`). */
  collapsedWorlds: string[];
  /** Per asset, the balance that evaporated (the WEV). */
  wev: AmountMap;
  /** Score per child name, for the `score` oracle (null: no numeric score); null for `manual`. */
  scores: Record<string, number | null> | null;
  oracleSource: string;
  pullUpTimeMs: number;
}

/** One (verse, owner, asset) balance, the amount as a decimal string. */
export interface BalanceInfo {
  verse: string;
  owner: string;
  asset: string;
  amount: string;
}

/** What a ledger operation answers: its journal sequence number, the normalised arguments, and balances after. */
export interface LedgerOpReply {
  seq: number;
  op: LedgerOpName;
  args: Record<string, unknown>;
  /** The balances the operation touched, read right after it (zero entries included). */
  balances: BalanceInfo[];
}

/** A ledger verse. */
export type LedgerVerseInfo = VerseInfo;

/** A ledger event (partition) with its WEV as decimal strings. */
export interface LedgerEventInfo {
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
  wev: AmountMap | null;
}

/** A journaled ledger operation's name. */
export type LedgerOpName = 'deposit' | 'withdraw' | 'transfer' | 'partition' | 'pushDown' | 'pullUp' | 'resolve';

/** What `GET /v1/ledger/check` answers: the journal replayed from empty and checked. */
export interface LedgerCheckReply {
  ok: boolean;
  /** Every violation found (empty when `ok`). */
  problems: string[];
  /** Journal length replayed. */
  ops: number;
  /** Number of non-zero balance entries. */
  balances: number;
}


/** A journal row: amounts as decimal strings. */
export interface JournalInfo {
  seq: number;
  ts: string;
  op: LedgerOpName;
  args: Record<string, unknown>;
}
