/**
 * @module
 * Options are normalised once, at the boundary: unknown keys and bad values are refused with a message that
 * names the option, what was expected and what came. Every number has a range (the `MAX_*` constants below;
 * docs/api.md lists them) and metadata has a depth and a size, so nothing a caller passes reaches a driver,
 * a timer or a serialiser that would misread it.
 */
import { resolve } from 'node:path';
import { defaultHome } from '../base/config.js';
import { InvalidArgumentError } from '../base/errors.js';
import { boundedJsonCopy } from '../base/json.js';
import type { BranchOptions, CreateOptions, DriverName, FsBackend, Isolation, Trit } from '../base/types.js';
import type { E2bDriverOptions } from '../drivers/e2b/options.js';
import type { MicrovmDriverOptions } from '../drivers/microvm/driver.js';
import type { MorphDriverOptions } from '../drivers/morph/driver.js';

import {
  DEFAULT_DISK_MIB,
  MAX_BRANCH_COUNT,
  MAX_DISK_MIB,
  MAX_MEMORY_MIB,
  MAX_METADATA_BYTES,
  MAX_METADATA_DEPTH,
  MAX_POOL,
  MAX_SNAPSHOT_NAME,
  MAX_TIMEOUT_MS,
  MAX_VCPUS,
} from '../base/limits.js';

export interface OpenOptions {
  /** State directory (database, sockets, worlds' files). @default $WORLD_RUNTIME_HOME, else ~/.world-runtime */
  home?: string;
  /** How worlds are made. @default 'process' */
  driver?: DriverName;
  /**
   * Sandbox for the process driver (docs/security.md). @default 'auto': `world` as root, else `tree`, else
   * `none`, with a loud warning whenever worlds are not one trust domain each
   */
  isolation?: Isolation;
  /** Backend of the process driver's world filesystems. @default 'auto' (btrfs, else overlay with isolation 'tree', else copy, with a warning) */
  fs?: FsBackend;
  /** Keep a DuckDB record of every world, branch and timing. @default true */
  record?: boolean;
  /** Where warnings go. @default console.warn */
  warn?: (message: string) => void;
  /**
   * Warm pools of the process driver: started sandboxes kept for `create`, and pre-forked branches kept per
   * snapshot. Each is an integer from 0 to 64; 0 turns a pool off (every create is a cold start, every branch
   * forks on the spot).
   * @default { worlds: 1, branchesPerSnapshot: 2 }
   */
  pool?: { worlds?: number; branchesPerSnapshot?: number };
  /** Options of the microvm driver (docs/microvm.md), used with `driver: 'microvm'`. @default {} */
  microvm?: MicrovmOptions;
  /**
   * Options of the e2b driver (docs/remote.md), used with `driver: 'e2b'`: where the E2B engine is and
   * which template `create` starts. Each unset one comes from the SDK's variable (E2B_API_KEY, E2B_API_URL,
   * E2B_SANDBOX_URL, E2B_DOMAIN). @default {}
   */
  e2b?: E2bOptions;
  /** Options of the morph driver (docs/remote.md, "morph"), used with `driver: 'morph'`. @default {} */
  morph?: MorphOptions;
}

export type E2bOptions = E2bDriverOptions;

/** The morph driver's options; `apiKey` defaults to $MORPH_API_KEY and `baseUrl` to $MORPH_BASE_URL, else Morph's cloud. */
export type MorphOptions = Partial<MorphDriverOptions>;

/** What `WorldRuntime.open` passes on to the microvm driver (its `home` is the runtime's, its progress goes to `warn`). */
export type MicrovmOptions = Pick<MicrovmDriverOptions, 'accel' | 'snapshotBudgetBytes' | 'hangGraceMs' | 'spareWorlds' | 'spareVms'>;

export interface NormalOpenOptions {
  home: string;
  driver: DriverName;
  isolation: Isolation;
  fs: FsBackend;
  record: boolean;
  warn: (message: string) => void;
  pool: { worlds: number; branchesPerSnapshot: number };
  microvm: MicrovmOptions;
  e2b: E2bOptions;
  morph: MorphOptions;
}

function rejectUnknown(where: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw new InvalidArgumentError(`${where}: unknown option "${key}" (known: ${known.join(', ')})`);
  }
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw new InvalidArgumentError(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
  return value as T;
}

export function normalizeOpen(options: OpenOptions = {}): NormalOpenOptions {
  rejectUnknown('WorldRuntime.open', options, ['home', 'driver', 'isolation', 'fs', 'record', 'warn', 'pool', 'microvm', 'e2b', 'morph']);
  const pool = options.pool ?? {};
  rejectUnknown('pool', pool, ['worlds', 'branchesPerSnapshot']);
  return {
    home: options.home ? resolve(options.home) : defaultHome(),
    driver: oneOf('driver', options.driver, ['process', 'microvm', 'e2b', 'morph'], 'process'),
    isolation: oneOf('isolation', options.isolation, ['auto', 'world', 'tree', 'none'], 'auto'),
    fs: oneOf('fs', options.fs, ['auto', 'btrfs', 'overlay', 'copy'], 'auto'),
    record: options.record ?? true,
    warn: options.warn ?? ((m) => console.warn(m)),
    pool: { worlds: count('pool.worlds', pool.worlds, 1), branchesPerSnapshot: count('pool.branchesPerSnapshot', pool.branchesPerSnapshot, 2) },
    microvm: normalizeMicrovm(options.microvm),
    e2b: normalizeE2b(options.e2b),
    morph: normalizeMorph(options.morph),
  };
}

/** Shortest `microvm.hangGraceMs`: a guest must have a moment to report its own timeout before it counts as hung. */
const MIN_HANG_GRACE_MS = 100;

function normalizeMicrovm(value: unknown): MicrovmOptions {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`microvm must be an object, got ${show(value)}`);
  const m = value as Record<string, unknown>;
  rejectUnknown('microvm', m, ['accel', 'snapshotBudgetBytes', 'hangGraceMs', 'spareWorlds', 'spareVms']);
  const out: MicrovmOptions = {};
  if (m.accel !== undefined) out.accel = oneOf<NonNullable<MicrovmOptions['accel']>>('microvm.accel', m.accel, ['auto', 'kvm', 'tcg'], 'auto');
  if (m.snapshotBudgetBytes !== undefined) out.snapshotBudgetBytes = integer('microvm.snapshotBudgetBytes', m.snapshotBudgetBytes, 1, Number.MAX_SAFE_INTEGER);
  if (m.hangGraceMs !== undefined) out.hangGraceMs = integer('microvm.hangGraceMs', m.hangGraceMs, MIN_HANG_GRACE_MS, MAX_TIMEOUT_MS);
  if (m.spareWorlds !== undefined) out.spareWorlds = count('microvm.spareWorlds', m.spareWorlds, 0);
  if (m.spareVms !== undefined) out.spareVms = count('microvm.spareVms', m.spareVms, 0);
  return out;
}

function normalizeMorph(value: unknown): MorphOptions {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`morph must be an object, got ${show(value)}`);
  const m = value as Record<string, unknown>;
  rejectUnknown('morph', m, ['apiKey', 'baseUrl', 'snapshotId', 'requestTimeoutMs']);
  const out: MorphOptions = {};
  for (const k of ['apiKey', 'snapshotId'] as const) {
    if (m[k] === undefined) continue;
    if (typeof m[k] !== 'string' || m[k] === '') throw new InvalidArgumentError(`morph.${k} must be a non-empty string, got ${show(m[k])}`);
    out[k] = m[k] as string;
  }
  if (m.baseUrl !== undefined) {
    let ok = typeof m.baseUrl === 'string';
    try {
      ok &&= ['http:', 'https:'].includes(new URL(m.baseUrl as string).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new InvalidArgumentError(`morph.baseUrl must be an http(s) URL, got ${show(m.baseUrl)}`);
    out.baseUrl = m.baseUrl as string;
  }
  if (m.requestTimeoutMs !== undefined) out.requestTimeoutMs = integer('morph.requestTimeoutMs', m.requestTimeoutMs, 1, MAX_TIMEOUT_MS);
  return out;
}

/** Longest `e2b.requestTimeoutMs`: one control-plane request, at most 10 minutes. */
const MAX_E2B_REQUEST_MS = 600_000;

function normalizeE2b(value: unknown): E2bOptions {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(`e2b must be an object, got ${show(value)}`);
  const m = value as Record<string, unknown>;
  rejectUnknown('e2b', m, ['apiKey', 'apiUrl', 'sandboxUrl', 'domain', 'template', 'requestTimeoutMs']);
  const out: E2bOptions = {};
  for (const key of ['apiKey', 'template', 'domain'] as const) {
    const v = m[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '' || v.length > 4096 || /[\s\p{Cc}]/u.test(v))
      throw new InvalidArgumentError(`e2b.${key} must be a non-empty string without spaces, got ${key === 'apiKey' ? typeof v : show(v)}`);
    out[key] = v;
  }
  for (const key of ['apiUrl', 'sandboxUrl'] as const) {
    const v = m[key];
    if (v === undefined) continue;
    let ok = false;
    try {
      ok = typeof v === 'string' && ['http:', 'https:'].includes(new URL(v).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new InvalidArgumentError(`e2b.${key} must be an http:// or https:// URL, got ${show(v)}`);
    out[key] = v as string;
  }
  if (m.requestTimeoutMs !== undefined) out.requestTimeoutMs = integer('e2b.requestTimeoutMs', m.requestTimeoutMs, 1, MAX_E2B_REQUEST_MS);
  return out;
}

function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

function count(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_POOL) {
    throw new InvalidArgumentError(`${name} must be an integer from 0 to ${MAX_POOL}, got ${show(value)}`);
  }
  return value;
}

/**
 * A value for an error message, at most 80 characters: numbers as JavaScript writes them (JSON would print
 * Infinity as null), anything JSON cannot print (a cycle, a bigint inside) by its kind.
 */
function show(value: unknown): string {
  if (typeof value !== 'object' || value === null) return typeof value === 'string' ? JSON.stringify(value.slice(0, 80)) : String(value);
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    // not JSON (a cycle, a bigint): named by kind below
  }
  if (text === undefined) return Array.isArray(value) ? 'an array' : 'an object';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * An exec/run `timeoutMs`: a finite number from 1 to {@link MAX_TIMEOUT_MS}. Past 2^31 − 1 a Node timer
 * fires after 1 ms, so an unchecked 2^31 would kill the code at once and report a timeout.
 */
export function checkTimeoutMs(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1 || value > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`timeoutMs must be a finite number from 1 to ${MAX_TIMEOUT_MS} (24 h), got ${show(value)}`);
  }
  return value;
}

/** A snapshot's optional name: a string of at most {@link MAX_SNAPSHOT_NAME} characters. */
export function checkSnapshotName(name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || name.length > MAX_SNAPSHOT_NAME) {
    const got = typeof name === 'string' ? `${name.length} characters` : typeof name;
    throw new InvalidArgumentError(`snapshot name must be a string of at most ${MAX_SNAPSHOT_NAME} characters, got ${got}`);
  }
  return name;
}

export function checkTrit(name: string, value: unknown): Trit | undefined {
  if (value === undefined || value === null) return undefined;
  if (value !== -1 && value !== 0 && value !== 1) throw new InvalidArgumentError(`${name} must be -1, 0 or 1, got ${show(value)}`);
  return value;
}

function positiveInt(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}, got ${show(value)}`);
  }
  return value;
}

/**
 * World metadata: a plain object of JSON at most {@link MAX_METADATA_DEPTH} levels deep and
 * {@link MAX_METADATA_BYTES} as JSON, checked before any world is made. What is kept is its JSON copy.
 */
export function checkMetadata(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(value)) throw new InvalidArgumentError(`${name} must be a plain object, got ${show(value)}`);
  const copy = boundedJsonCopy(name, value, { maxDepth: MAX_METADATA_DEPTH, maxBytes: MAX_METADATA_BYTES });
  if (!isObject(copy)) throw new InvalidArgumentError(`${name} must be a plain object (its toJSON gave ${typeof copy})`);
  return copy as Record<string, unknown>;
}

export interface NormalCreateOptions {
  trit: Trit | null;
  memoryMib: number;
  vcpus: number;
  diskMib: number;
  metadata: Record<string, unknown>;
}

export function normalizeCreate(options: CreateOptions = {}): NormalCreateOptions {
  rejectUnknown('create', options, ['trit', 'memoryMib', 'vcpus', 'diskMib', 'metadata']);
  return {
    trit: checkTrit('trit', options.trit) ?? null,
    memoryMib: positiveInt('memoryMib', options.memoryMib, 512, MAX_MEMORY_MIB),
    vcpus: positiveInt('vcpus', options.vcpus, 1, MAX_VCPUS),
    diskMib: positiveInt('diskMib', options.diskMib, DEFAULT_DISK_MIB, MAX_DISK_MIB),
    metadata: checkMetadata('metadata', options.metadata),
  };
}

export interface NormalBranchOptions {
  count: number;
  trits: (Trit | null)[];
  metadata: Record<string, unknown>;
  sameRandom: boolean;
}

export function normalizeBranch(count: unknown, options: BranchOptions = {}): NormalBranchOptions {
  rejectUnknown('branch', options, ['metadata', 'trits', 'sameRandom']);
  const n = positiveInt('count', count === undefined ? null : count, 1, MAX_BRANCH_COUNT);
  if (options.trits !== undefined && (!Array.isArray(options.trits) || options.trits.length !== n)) {
    throw new InvalidArgumentError(`trits must be an array with one trit per branch (${n}), got ${show(options.trits)}`);
  }
  const trits = options.trits ? options.trits.map((t, i) => checkTrit(`trits[${i}]`, t) ?? null) : new Array<Trit | null>(n).fill(null);
  return { count: n, trits, metadata: checkMetadata('metadata', options.metadata), sameRandom: options.sameRandom ?? false };
}
