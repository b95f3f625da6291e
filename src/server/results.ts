/**
 * @module
 * The JSON shapes the daemon answers with, one per action kind (`ActionResults`). `openapi.json` describes
 * the same shapes; the server tests hold every response to it.
 */
import type { DoctorReport, Usage } from '../core/runtime.js';
import type { ExecError, RunResult, Trit, WorldState } from '../base/types.js';
import type { CheckReport, EventInfo, LedgerOpName, VerseInfo } from '../ledger/types.js';
import type { BranchRow, EntityRow, MetricRow, MetricSummary, ResolutionRow } from '../store/types.js';
import type { ActionKind } from './actions.js';

/** A world as `World.toJSON()` gives it. */
export interface WorldInfo {
  id: string;
  parentId: string | null;
  snapshotId: string | null;
  state: WorldState;
  trit: Trit | null;
  metadata: Record<string, unknown>;
  memoryMib: number;
  diskMib: number;
  vcpus: number;
  bootTimeMs: number;
  createdAt: string;
  failure?: string;
  /** On GET of one world and in the list: what it uses now. */
  usage?: Usage;
}

/** A snapshot as `Snapshot.toJSON()` gives it. */
export interface SnapshotInfo {
  id: string;
  worldId: string;
  name: string | null;
  state: 'ready' | 'destroyed';
  snapshotTimeMs: number;
  createdAt: string;
  usage?: Usage;
}

/** `ExecResult` with `value` and `error` always present (null when absent), as the seed's execute returns. */
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

/**
 * The seed's targets (create ~250 ms, snapshot < 250 ms, branch < 250 ms), shown beside the measured
 * percentiles by `GET /v1/metrics` and `world-runtime metrics`.
 */
export const METRIC_TARGETS_MS: Readonly<Record<string, number>> = { create: 250, snapshot: 250, branch: 250 };

export interface MetricSummaryReply extends MetricSummary {
  /** The seed's target for this operation, in ms; null when it names none. */
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

export interface DoctorReply extends DoctorReport {
  daemon: { pid: number; version: string; socket: string; tcp: string | null; maxWorlds: number; record: boolean };
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
 * A push-down event as this daemon knows it. `state`: `open` until resolved, `resolved` after, `collapsed`
 * when the verse it split has itself collapsed (a loser of an outer resolution).
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
  verses: VerseWorldInfo[];
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

/** A ledger event (partition) with its WEV as decimal strings. */
export interface LedgerEventInfo extends Omit<EventInfo, 'wev'> {
  wev: AmountMap | null;
}

/** A journal row: amounts as decimal strings. */
export interface JournalInfo {
  seq: number;
  ts: string;
  op: LedgerOpName;
  args: Record<string, unknown>;
}

/** What each action answers with. `world.readFile` answers raw bytes. */
export interface ActionResults {
  'world.create': WorldInfo;
  'world.list': { worlds: WorldInfo[] };
  'world.get': WorldInfo;
  'world.destroy': DestroyReply;
  'world.exec': ExecReply;
  'world.run': RunReply;
  'world.writeFile': { path: string; bytes: number };
  'world.readFile': Uint8Array;
  'world.snapshot': SnapshotInfo;
  'world.branch': { worlds: WorldInfo[] };
  'snapshot.list': { snapshots: SnapshotInfo[] };
  'snapshot.get': SnapshotInfo;
  'snapshot.destroy': DestroyReply;
  'snapshot.branch': { worlds: WorldInfo[] };
  'sandbox.create': WorldInfo;
  'sandbox.snapshot': SnapshotInfo & { snapshot_id: string };
  'sandbox.execute': ExecReply;
  'verse.pushDown': PushDownReply;
  'verse.list': { events: VerseEventInfo[] };
  'verse.get': VerseEventInfo;
  'verse.execute': VerseExecReply;
  'verse.pullUp': PullUpReply;
  'ledger.deposit': LedgerOpReply;
  'ledger.withdraw': LedgerOpReply;
  'ledger.transfer': LedgerOpReply;
  'ledger.pushDown': LedgerOpReply;
  'ledger.pullUp': LedgerOpReply;
  'ledger.balances': { balances: BalanceInfo[] };
  'ledger.verses': { verses: VerseInfo[] };
  'ledger.events': { events: LedgerEventInfo[] };
  'ledger.journal': { journal: JournalInfo[] };
  'ledger.check': CheckReport;
  'record.entities': { entities: EntityRow[] };
  'record.branches': { branches: BranchRow[] };
  'record.resolutions': { resolutions: ResolutionRow[] };
  'record.metrics': MetricsReply;
  'system.doctor': DoctorReply;
  'system.health': HealthReply;
}

export type ResultOf<K extends ActionKind> = ActionResults[K];
