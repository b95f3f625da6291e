/**
 * @module
 * Validated, normalised copies of the rows handed to `record*`, as they sit in the write-behind queue.
 * Copying at record time means a caller mutating its object later cannot change what gets written, and
 * validating there means a bad row throws on the caller's stack instead of poisoning a batch later.
 */
import { InvalidArgumentError } from '../base/errors.js';
import {
  BRANCH_TYPES,
  type BranchInput,
  ENTITY_STATES,
  ENTITY_TYPES,
  type EntityInput,
  type EntityPatch,
  type MetricInput,
  type ResolutionInput,
  type VerseWorldInput,
} from './types.js';

/** Timestamps are epoch milliseconds (integers) until they are written. */
export interface EntityRec {
  entityId: string;
  entityType: string;
  parentId: string | null;
  snapshotId: string | null;
  trit: number | null;
  state: string;
  memoryMib: number | null;
  vcpuCount: number | null;
  bootTimeMs: number | null;
  createdAt: number;
  resolvedAt: number | null;
}

/** Only the keys present are changed. */
export interface PatchRec {
  state?: string;
  resolvedAt?: number | null;
  snapshotId?: string | null;
}

export interface BranchRec {
  branchId: string;
  parentEntityId: string | null;
  childEntityIds: string[];
  branchType: string;
  snapshotTimeMs: number | null;
  gf3Sum: number | null;
  branchedAt: number;
}

export interface MetricRec {
  metricId: string;
  entityId: string | null;
  bootTimeMs: number | null;
  snapshotTimeMs: number | null;
  branchTimeMs: number | null;
  memoryOverheadMb: number | null;
  measuredAt: number;
}

export interface ResolutionRec {
  resolutionId: string;
  verses: string[];
  winningVerse: string | null;
  oracleSource: string | null;
  wevExtracted: number | null;
  pullUpTimeMs: number | null;
  resolvedAt: number;
}

export interface VerseWorldRec {
  verse: string;
  event: string;
  worldId: string;
  sourceWorldId: string | null;
  snapshotId: string | null;
  diskMib: number | null;
  createdAt: number;
}

/** One queued write, in the order the caller made it. */
export type Op =
  | { kind: 'entity'; row: EntityRec }
  | { kind: 'update'; entityId: string; patch: PatchRec }
  | { kind: 'branch'; row: BranchRec }
  | { kind: 'metric'; row: MetricRec }
  | { kind: 'resolution'; row: ResolutionRec }
  | { kind: 'verseWorld'; row: VerseWorldRec };

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

function fail(what: string, expected: string, got: unknown): never {
  throw new InvalidArgumentError(`${what}: expected ${expected}, got ${describe(got)}`, { field: what });
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (v instanceof Date) return `Date(${String(v.getTime())})`;
  return typeof v === 'object' ? (v === null ? 'null' : 'an object') : String(v);
}

/** A non-empty string without NUL (DuckDB VARCHARs cannot hold NUL). */
function text(what: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.includes('\0')) fail(what, 'a non-empty string without NUL', v);
  return v;
}

function textOrNull(what: string, v: unknown): string | null {
  return v === undefined || v === null ? null : text(what, v);
}

function oneOf(what: string, v: unknown, allowed: readonly string[]): string {
  if (typeof v !== 'string' || !allowed.includes(v)) fail(what, `one of ${allowed.join(', ')}`, v);
  return v;
}

function floatOrNull(what: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(what, 'a finite number', v);
  return v;
}

function int32OrNull(what: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < INT32_MIN || v > INT32_MAX) fail(what, 'a 32-bit integer', v);
  return v;
}

function time(what: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback;
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) fail(what, 'a valid Date', v);
  return v.getTime();
}

function timeOrNull(what: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  return time(what, v, 0);
}

function textList(what: string, v: unknown): string[] {
  if (!Array.isArray(v)) fail(what, 'an array of strings', v);
  return v.map((item, i) => text(`${what}[${i}]`, item));
}

/** Validate an entity id (for `updateEntity`). */
export function entityId(v: unknown): string {
  return text('entityId', v);
}

/** Validate and copy a new entity row. */
export function entityRec(input: EntityInput, now: number): EntityRec {
  const trit = int32OrNull('trit', input.trit);
  if (trit !== null && trit !== -1 && trit !== 0 && trit !== 1) fail('trit', '-1, 0 or 1', trit);
  return {
    entityId: text('entityId', input.entityId),
    entityType: oneOf('entityType', input.entityType, ENTITY_TYPES),
    parentId: textOrNull('parentId', input.parentId),
    snapshotId: textOrNull('snapshotId', input.snapshotId),
    trit,
    state: input.state === undefined ? 'running' : oneOf('state', input.state, ENTITY_STATES),
    memoryMib: int32OrNull('memoryMib', input.memoryMib),
    vcpuCount: int32OrNull('vcpuCount', input.vcpuCount),
    bootTimeMs: floatOrNull('bootTimeMs', input.bootTimeMs),
    createdAt: time('createdAt', input.createdAt, now),
    resolvedAt: timeOrNull('resolvedAt', input.resolvedAt),
  };
}

/** Validate and copy an entity patch; an empty patch is refused (it would be a silent no-op). */
export function patchRec(patch: EntityPatch): PatchRec {
  const out: PatchRec = {};
  if (patch.state !== undefined) out.state = oneOf('state', patch.state, ENTITY_STATES);
  if (patch.resolvedAt !== undefined) out.resolvedAt = timeOrNull('resolvedAt', patch.resolvedAt);
  if (patch.snapshotId !== undefined) out.snapshotId = textOrNull('snapshotId', patch.snapshotId);
  if (Object.keys(out).length === 0) fail('patch', 'at least one of state, resolvedAt, snapshotId', patch);
  return out;
}

/** Validate and copy a branch row. */
export function branchRec(input: BranchInput, now: number): BranchRec {
  return {
    branchId: text('branchId', input.branchId),
    parentEntityId: textOrNull('parentEntityId', input.parentEntityId),
    childEntityIds: textList('childEntityIds', input.childEntityIds),
    branchType: oneOf('branchType', input.branchType, BRANCH_TYPES),
    snapshotTimeMs: floatOrNull('snapshotTimeMs', input.snapshotTimeMs),
    gf3Sum: int32OrNull('gf3Sum', input.gf3Sum),
    branchedAt: time('branchedAt', input.branchedAt, now),
  };
}

/** Validate and copy a metric row; `newId` is only called when the caller gave no id. */
export function metricRec(input: MetricInput, now: number, newId: () => string): MetricRec {
  return {
    metricId: input.metricId === undefined ? newId() : text('metricId', input.metricId),
    entityId: textOrNull('entityId', input.entityId),
    bootTimeMs: floatOrNull('bootTimeMs', input.bootTimeMs),
    snapshotTimeMs: floatOrNull('snapshotTimeMs', input.snapshotTimeMs),
    branchTimeMs: floatOrNull('branchTimeMs', input.branchTimeMs),
    memoryOverheadMb: floatOrNull('memoryOverheadMb', input.memoryOverheadMb),
    measuredAt: time('measuredAt', input.measuredAt, now),
  };
}

/** Validate and copy a resolution row. */
export function resolutionRec(input: ResolutionInput, now: number): ResolutionRec {
  return {
    resolutionId: text('resolutionId', input.resolutionId),
    verses: textList('verses', input.verses),
    winningVerse: textOrNull('winningVerse', input.winningVerse),
    oracleSource: textOrNull('oracleSource', input.oracleSource),
    wevExtracted: floatOrNull('wevExtracted', input.wevExtracted),
    pullUpTimeMs: floatOrNull('pullUpTimeMs', input.pullUpTimeMs),
    resolvedAt: time('resolvedAt', input.resolvedAt, now),
  };
}

/** Validate and copy a verse-world row. */
export function verseWorldRec(input: VerseWorldInput, now: number): VerseWorldRec {
  return {
    verse: text('verse', input.verse),
    event: text('event', input.event),
    worldId: text('worldId', input.worldId),
    sourceWorldId: textOrNull('sourceWorldId', input.sourceWorldId),
    snapshotId: textOrNull('snapshotId', input.snapshotId),
    diskMib: int32OrNull('diskMib', input.diskMib),
    createdAt: time('createdAt', input.createdAt, now),
  };
}
