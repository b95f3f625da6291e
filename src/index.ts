/**
 * @module
 * world-runtime: branchable worlds. `import { WorldRuntime } from 'world-runtime'`.
 */
export { WorldRuntime } from './core/runtime.js';
export type { DoctorReport } from './core/runtime.js';
export { World, Snapshot } from './core/world.js';
export * from './base/errors.js';
export type { MicrovmOptions, OpenOptions } from './core/options.js';
export {
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
} from './base/limits.js';
export type {
  BranchOptions,
  CreateOptions,
  DriverName,
  ExecError,
  ExecOptions,
  ExecResult,
  FsBackend,
  Isolation,
  RunOptions,
  RunResult,
  SnapshotState,
  Trit,
  WorldState,
} from './base/types.js';
export { MAX_VERSE_CHILDREN, SEED_TRIAD } from './core/verses.js';
export type { PullUpOptions, PullUpResult, PushDownOptions, PushDownResult, VerseChild, VerseExecResult, VerseWorld } from './core/verses.js';
export type { EventVerse, RecordedWorld, VerseEvent } from './core/events.js';
export type { ChangeListener, RuntimeChange } from './core/changes.js';
export { Ledger } from './ledger/index.js';
