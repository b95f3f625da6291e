/**
 * @module
 * Every error world-runtime throws. One root (`WorldRuntimeError`) with a stable `code`, so the daemon can
 * serialise an error and a client rebuild the same class (see `errorFromJSON`). Failures of an HTTP request
 * itself (no such route, a wrong token, a body too large) are not here: they are the daemon's own faults
 * (src/server/reply.ts), with codes listed in src/protocol/wire.ts.
 */

/** Stable machine-readable codes, one per leaf class. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'WORLD_NOT_FOUND'
  | 'SNAPSHOT_NOT_FOUND'
  | 'SOURCE_NOT_FOUND'
  | 'WRONG_STATE'
  | 'WORLD_FAILED'
  | 'TIMEOUT'
  | 'FORK_REFUSED'
  | 'ISOLATION_UNAVAILABLE'
  | 'RUNTIME_CLOSED'
  | 'HOME_LOCKED'
  | 'CAPACITY'
  | 'DISK_FULL'
  | 'DRIVER'
  | 'LEDGER'
  | 'RECORD_UNAVAILABLE'
  | 'FILE_NOT_FOUND';

const brand = Symbol.for('world-runtime.error');

/** Root of every error world-runtime throws. */
export class WorldRuntimeError extends Error {
  override name = 'WorldRuntimeError';
  readonly code: ErrorCode;
  /** Extra structured facts (current/required state, limits) for clients. */
  readonly details: Record<string, unknown>;
  readonly [brand] = true;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** True for any world-runtime error, even one from another copy of the package. */
  static is(value: unknown): value is WorldRuntimeError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }

  toJSON(): { code: ErrorCode; name: string; message: string; details: Record<string, unknown> } {
    return { code: this.code, name: this.name, message: this.message, details: this.details };
  }
}

/** A caller passed something malformed: the message names the option, what was expected and what came. */
export class InvalidArgumentError extends WorldRuntimeError {
  override name = 'InvalidArgumentError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INVALID_ARGUMENT', message, { details });
  }
}

export class WorldNotFoundError extends WorldRuntimeError {
  override name = 'WorldNotFoundError';
  constructor(id: string) {
    super('WORLD_NOT_FOUND', `no world with id "${id}"`, { details: { id } });
  }
}

export class SnapshotNotFoundError extends WorldRuntimeError {
  override name = 'SnapshotNotFoundError';
  constructor(id: string) {
    super('SNAPSHOT_NOT_FOUND', `no snapshot with id "${id}"`, { details: { id } });
  }
}

/** An id asked for as a branch source names neither a world nor a snapshot. */
export class SourceNotFoundError extends WorldRuntimeError {
  override name = 'SourceNotFoundError';
  constructor(id: string) {
    super('SOURCE_NOT_FOUND', `no world or snapshot with id "${id}"`, { details: { id } });
  }
}

/**
 * An operation that the object's current lifecycle state does not allow (e.g. exec on a destroyed world).
 * `reason` says how it got there when that is known (a failed world's failure): it follows the id in the
 * message and is `details.reason`; `details.id` is always the bare id.
 */
export class WrongStateError extends WorldRuntimeError {
  override name = 'WrongStateError';
  constructor(what: string, id: string, operation: string, current: string, required: readonly string[], reason?: string) {
    super('WRONG_STATE', `cannot ${operation} ${what} ${id}${reason ? ` (${reason})` : ''}: it is ${current} (needs ${required.join(' or ')})`, {
      details: { id, operation, current, required, ...(reason ? { reason } : {}) },
    });
  }
}

/** The world's process died or had to be killed; the world is now `failed`. */
export class WorldFailedError extends WorldRuntimeError {
  override name = 'WorldFailedError';
  constructor(id: string, reason: string) {
    super('WORLD_FAILED', `world ${id} failed: ${reason}`, { details: { id, reason } });
  }
}

/** readFile of a path that does not exist in the world. */
export class FileNotFoundError extends WorldRuntimeError {
  override name = 'FileNotFoundError';
  constructor(message: string) {
    super('FILE_NOT_FOUND', message);
  }
}

export class TimeoutError extends WorldRuntimeError {
  override name = 'TimeoutError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('TIMEOUT', message, { details });
  }
}

/** The guest refused to fork (e.g. more than one thread alive), which would corrupt the branch. */
export class ForkRefusedError extends WorldRuntimeError {
  override name = 'ForkRefusedError';
  constructor(message: string) {
    super('FORK_REFUSED', message);
  }
}

export class IsolationUnavailableError extends WorldRuntimeError {
  override name = 'IsolationUnavailableError';
  constructor(message: string) {
    super('ISOLATION_UNAVAILABLE', message);
  }
}

export class RuntimeClosedError extends WorldRuntimeError {
  override name = 'RuntimeClosedError';
  constructor() {
    super('RUNTIME_CLOSED', 'the runtime is closed: open a new one with WorldRuntime.open()');
  }
}

export class HomeLockedError extends WorldRuntimeError {
  override name = 'HomeLockedError';
  constructor(home: string, holder: string) {
    super('HOME_LOCKED', `state directory ${home} is in use by ${holder}; stop it or pass another home`, {
      details: { home, holder },
    });
  }
}

export class CapacityError extends WorldRuntimeError {
  override name = 'CapacityError';
  constructor(message: string) {
    super('CAPACITY', message);
  }
}

/** A write past the world's disk limit (`diskMib`), or its filesystem is full: nothing was written. */
export class DiskFullError extends WorldRuntimeError {
  override name = 'DiskFullError';
  constructor(message: string) {
    super('DISK_FULL', message);
  }
}

export class DriverError extends WorldRuntimeError {
  override name = 'DriverError';
  constructor(message: string, cause?: unknown) {
    super('DRIVER', message, { cause });
  }
}

/** The DuckDB record was asked for, but this runtime keeps none (it was opened with `record: false`). */
export class RecordUnavailableError extends WorldRuntimeError {
  override name = 'RecordUnavailableError';
  constructor(message: string) {
    super('RECORD_UNAVAILABLE', message);
  }
}

export class LedgerError extends WorldRuntimeError {
  override name = 'LedgerError';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('LEDGER', message, { details });
  }
}

const classes: Partial<Record<ErrorCode, new (...args: never[]) => WorldRuntimeError>> = {
  INVALID_ARGUMENT: InvalidArgumentError,
  WORLD_NOT_FOUND: WorldNotFoundError,
  SNAPSHOT_NOT_FOUND: SnapshotNotFoundError,
  SOURCE_NOT_FOUND: SourceNotFoundError,
  WRONG_STATE: WrongStateError,
  WORLD_FAILED: WorldFailedError,
  TIMEOUT: TimeoutError,
  FILE_NOT_FOUND: FileNotFoundError,
  FORK_REFUSED: ForkRefusedError,
  ISOLATION_UNAVAILABLE: IsolationUnavailableError,
  RUNTIME_CLOSED: RuntimeClosedError,
  HOME_LOCKED: HomeLockedError,
  CAPACITY: CapacityError,
  DISK_FULL: DiskFullError,
  DRIVER: DriverError,
  LEDGER: LedgerError,
  RECORD_UNAVAILABLE: RecordUnavailableError,
};

/** Rebuild an error serialised with `toJSON()` (e.g. by the daemon) as the matching class. */
export function errorFromJSON(json: { code: ErrorCode; message: string; details?: Record<string, unknown> }): WorldRuntimeError {
  const err = new WorldRuntimeError(json.code, json.message, { details: json.details ?? {} });
  const cls = classes[json.code];
  if (cls) Object.setPrototypeOf(err, cls.prototype);
  err.name = cls?.name ?? 'WorldRuntimeError';
  return err;
}
