/**
 * @module
 * The contract every driver (process, microvm, e2b: a remote engine) implements. A driver knows worlds and
 * snapshots as opaque handles; it knows nothing of the ledger, the record or verses, which `core/` ties to
 * worlds (docs/architecture.md). test/drivers/contract/ runs one suite against every driver; what a driver
 * cannot do is skipped there with the reason.
 *
 * The rules every driver keeps:
 * - **Errors.** Everything a driver throws is a `WorldRuntimeError` (base/errors.ts): a handle the driver
 *   does not know (never made, or destroyed) → `WorldNotFoundError` / `SnapshotNotFoundError`; a world whose
 *   process or VM died → `WorldFailedError`; `readFile` of a path that is not there → `FileNotFoundError`;
 *   a write past the world's disk → `DiskFullError`; a bad path or argument → `InvalidArgumentError`;
 *   anything else of the engine → `DriverError` with the engine's message.
 * - **Destroy is idempotent.** `destroyWorld`/`destroySnapshot` of a handle already destroyed, or never known,
 *   resolve; they never throw for what the world did, and leave nothing of it running.
 * - **Listeners add up.** `onWorldExit` adds a listener; every listener hears every unasked exit, once.
 * - **Timeouts.** `exec` and `run` without `timeoutMs` stop after {@link DEFAULT_TIMEOUT_MS}. A timed-out
 *   `run` resolves with `timedOut: true`; a timed-out `exec` resolves with an `error` of type `TimeoutError`
 *   (the world lives on) or, when the code will not stop, the world is killed and the call rejects with
 *   `WorldFailedError`.
 * - **After `close()`** every world and snapshot is gone; calls reject with `RuntimeClosedError`, except
 *   `destroyWorld`/`destroySnapshot` and `close` itself, which resolve (there is nothing left to end).
 */
import type { ExecOptions, ExecResult, RunOptions, RunResult } from '../base/types.js';

/** Timeout of `exec` and `run` when the caller gives none: 5 minutes. */
export const DEFAULT_TIMEOUT_MS = 300_000;

export interface WorldHandle {
  /** Driver-chosen id, unique within one runtime. */
  readonly id: string;
}

export interface SnapshotHandle {
  readonly id: string;
  /** Bytes the snapshot holds on disk or in memory beyond its source, when known. */
  readonly sizeBytes?: number;
}

export interface DriverCreateOptions {
  id: string;
  memoryMib: number;
  vcpus: number;
  /** Disk the world may write, in MiB (drivers that cannot enforce it say so in doctor). */
  diskMib?: number;
}

export interface DriverBranchOptions {
  /** Ids for the new worlds; their count is the branch count. */
  ids: string[];
  memoryMib: number;
  sameRandom: boolean;
}

/** Why a world stopped on its own (crash, OOM kill, hung guest): the runtime marks it `failed`. */
export type WorldExitListener = (worldId: string, reason: string) => void;

export interface DriverReport {
  driver: string;
  available: boolean;
  /** One line per fact: what is used and why. */
  notes: string[];
  [key: string]: unknown;
}

export interface Driver {
  readonly name: string;
  /** Make a fresh world. Resolves once it answers. */
  create(opts: DriverCreateOptions): Promise<WorldHandle>;
  exec(world: WorldHandle, code: string, opts: ExecOptions): Promise<ExecResult>;
  run(world: WorldHandle, command: string | string[], opts: RunOptions): Promise<RunResult>;
  writeFile(world: WorldHandle, path: string, data: Uint8Array): Promise<void>;
  readFile(world: WorldHandle, path: string): Promise<Uint8Array>;
  /** Freeze the world's state (memory and files) as it is now; the world keeps running. */
  snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle>;
  /** Start worlds from a snapshot, or straight from a running world. Resolves when all answer. */
  branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]>;
  destroyWorld(world: WorldHandle): Promise<void>;
  destroySnapshot(snapshot: SnapshotHandle): Promise<void>;
  /** Add a listener told when a world dies without being asked to. */
  onWorldExit(listener: WorldExitListener): void;
  /** Bytes of disk and memory each world or snapshot uses, where the driver can tell (null: unknown). */
  usage?(handles: readonly (WorldHandle | SnapshotHandle)[]): Promise<Record<string, { diskBytes: number | null; memoryBytes: number | null }>>;
  doctor(): Promise<DriverReport>;
  /** Destroy everything this driver made. */
  close(): Promise<void>;
}
