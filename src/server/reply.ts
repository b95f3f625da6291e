/**
 * @module
 * The one mapper from outcomes to HTTP (firecracker's `convert_to_response`): a result becomes 200 or 201
 * with its JSON (or bytes), an error becomes a status and a JSON fault body `{ error: { code, name, message,
 * details } }`. No other file chooses a status code.
 */
import { type ErrorCode, WorldRuntimeError } from '../base/errors.js';
import type { LedgerReason } from '../ledger/types.js';
import { type ActionKind, isCreating } from '../protocol/actions.js';
import type { FaultBody, FaultCode } from '../protocol/wire.js';

/** An HTTP answer before it is written. */
export type Reply =
  | { status: number; headers?: Record<string, string>; json: unknown }
  | { status: number; headers?: Record<string, string>; bytes: Uint8Array };

/** Status for each of the daemon's own fault codes (src/protocol/wire.ts). */
export const STATUS_BY_FAULT: Readonly<Record<FaultCode, number>> = {
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  TOO_LARGE: 413,
  INTERNAL: 500,
};

/**
 * A failure of the HTTP request itself rather than of the runtime: a wrong token, no such route, a wrong
 * method, a body too large. Runtime failures stay `WorldRuntimeError`s.
 */
export class HttpFault extends Error {
  override name = 'HttpFault';
  constructor(
    readonly code: FaultCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get status(): number {
    return STATUS_BY_FAULT[this.code];
  }
}

/** Status for each stable error code. Anything not listed is a 500. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  WORLD_NOT_FOUND: 404,
  SNAPSHOT_NOT_FOUND: 404,
  SOURCE_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  WRONG_STATE: 409,
  // The world died under the request: it is `failed` now, a state conflict like WRONG_STATE.
  WORLD_FAILED: 409,
  // The guest had threads alive: forking now would corrupt the branch; the caller must change the world.
  FORK_REFUSED: 409,
  HOME_LOCKED: 409,
  LEDGER: 409,
  CAPACITY: 503,
  // The world's disk limit (diskMib) or its filesystem: WebDAV's "insufficient storage".
  DISK_FULL: 507,
  RUNTIME_CLOSED: 503,
  ISOLATION_UNAVAILABLE: 503,
  // The daemon runs without a record (--no-record): its record reads cannot be served.
  RECORD_UNAVAILABLE: 503,
  TIMEOUT: 504,
  DRIVER: 500,
};

/**
 * Status for each `details.reason` of a `LEDGER` error: a conflict with the ledger's state is 409, an
 * unknown verse or event 404, a malformed operation 400. `NO_SCORE` comes from the `score` oracle of a
 * pull-up (no verse produced a number). A `LEDGER` error without a known reason keeps `STATUS_BY_CODE`'s 409.
 */
export const STATUS_BY_LEDGER_REASON: Readonly<Record<LedgerReason | 'NO_SCORE', number>> = {
  INSUFFICIENT_BALANCE: 409,
  COLLAPSED_VERSE: 409,
  EVENT_RESOLVED: 409,
  DUPLICATE_EVENT: 409,
  NO_SCORE: 409,
  UNKNOWN_VERSE: 404,
  UNKNOWN_EVENT: 404,
  NOT_A_PARTITION: 400,
  BAD_PROBABILITIES: 400,
  GF3_UNBALANCED: 400,
  ROOT_ONLY: 400,
  INVALID_AMOUNT: 400,
  INVALID_ARGUMENT: 400,
  CLOSED: 503,
  COMMIT_FAILED: 500,
  SCHEMA_VERSION: 500,
  CORRUPT_JOURNAL: 500,
};

/** The status of a runtime error: by its code, and for `LEDGER` by its reason. */
export function statusOf(err: WorldRuntimeError): number {
  const reason = err.details?.reason;
  if (err.code === 'LEDGER' && typeof reason === 'string' && Object.hasOwn(STATUS_BY_LEDGER_REASON, reason)) {
    return STATUS_BY_LEDGER_REASON[reason as LedgerReason];
  }
  return STATUS_BY_CODE[err.code] ?? 500;
}

/** The answer for a successful action. */
export function resultReply(kind: ActionKind, result: unknown): Reply {
  const status = isCreating(kind) ? 201 : 200;
  if (result instanceof Uint8Array) return { status, headers: { 'content-type': 'application/octet-stream' }, bytes: result };
  return { status, json: result };
}

/** The status and fault body for any thrown value. Never throws. */
export function errorReply(err: unknown): Reply & { json: FaultBody } {
  if (err instanceof HttpFault) {
    return { status: err.status, headers: err.headers, json: { error: { code: err.code, name: err.name, message: err.message, details: err.details } } };
  }
  if (WorldRuntimeError.is(err)) {
    return { status: statusOf(err), json: { error: { code: err.code, name: err.name, message: err.message, details: err.details ?? {} } } };
  }
  const message = err instanceof Error ? err.message : String(err);
  const code: FaultCode = 'INTERNAL';
  return { status: STATUS_BY_FAULT[code], json: { error: { code, name: 'Error', message: `internal error: ${message}`, details: {} } } };
}

/** 401 for a missing or wrong bearer token on TCP. */
export function unauthorized(message: string): HttpFault {
  return new HttpFault('UNAUTHORIZED', message, {}, { 'www-authenticate': 'Bearer realm="world-runtime"' });
}

/** 413 for a body over the limit. */
export function tooLarge(limitBytes: number, got?: number): HttpFault {
  const seen = got === undefined ? 'more' : String(got);
  return new HttpFault('TOO_LARGE', `request body too large: the limit is ${limitBytes} bytes, got ${seen}`, { limitBytes });
}

/** 404 for a path no route serves. */
export function noRoute(method: string, path: string): HttpFault {
  return new HttpFault('NOT_FOUND', `no route ${method} ${path} (see GET /v1/openapi.json)`, { method, path });
}

/** 405 for a path the routes serve with other methods. */
export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): HttpFault {
  return new HttpFault(
    'METHOD_NOT_ALLOWED',
    `${method} is not allowed on ${path} (allowed: ${allowed.join(', ')})`,
    { allowed },
    { allow: allowed.join(', ') },
  );
}
