/**
 * @module
 * The one mapper from outcomes to HTTP (firecracker's `convert_to_response`): a result becomes 200 or 201
 * with its JSON (or bytes), an error becomes a status and a JSON fault body `{ error: { code, name, message,
 * details } }`. No other file chooses a status code.
 */
import { type ErrorCode, WorldRuntimeError } from '../base/errors.js';
import type { LedgerReason } from '../ledger/types.js';
import { type ActionKind, CREATING_ACTIONS } from './actions.js';

/** An HTTP answer before it is written. */
export type Reply =
  | { status: number; headers?: Record<string, string>; json: unknown }
  | { status: number; headers?: Record<string, string>; bytes: Uint8Array };

/** The body of every error answer. */
export interface FaultBody {
  error: { code: string; name: string; message: string; details: Record<string, unknown> };
}

/**
 * A failure that belongs to HTTP rather than to the runtime (no such route, wrong method, no record), with
 * codes outside core's `ErrorCode`. Runtime failures stay `WorldRuntimeError`s.
 */
export class HttpFault extends Error {
  override name = 'HttpFault';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Status for each stable error code. Anything not listed is a 500. */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  WORLD_NOT_FOUND: 404,
  SNAPSHOT_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  WRONG_STATE: 409,
  // The world died under the request: it is `failed` now, a state conflict like WRONG_STATE.
  WORLD_FAILED: 409,
  // The guest had threads alive: forking now would corrupt the branch; the caller must change the world.
  FORK_REFUSED: 409,
  HOME_LOCKED: 409,
  LEDGER: 409,
  TOO_LARGE: 413,
  CAPACITY: 503,
  // The world's disk limit (diskMib) or its filesystem: WebDAV's "insufficient storage".
  DISK_FULL: 507,
  RUNTIME_CLOSED: 503,
  ISOLATION_UNAVAILABLE: 503,
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
  const status = CREATING_ACTIONS.has(kind) ? 201 : 200;
  if (result instanceof Uint8Array) return { status, headers: { 'content-type': 'application/octet-stream' }, bytes: result };
  return { status, json: result };
}

/** The status and fault body for any thrown value. Never throws. */
export function errorReply(err: unknown): Reply & { json: FaultBody } {
  if (err instanceof HttpFault) {
    return { status: err.status, headers: err.headers, json: { error: { code: err.code, name: err.name, message: err.message, details: err.details } } };
  }
  if (WorldRuntimeError.is(err)) {
    const status = statusOf(err);
    const headers: Record<string, string> = err.code === 'UNAUTHORIZED' ? { 'www-authenticate': 'Bearer realm="world-runtime"' } : {};
    return { status, headers, json: { error: { code: err.code, name: err.name, message: err.message, details: err.details ?? {} } } };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, json: { error: { code: 'INTERNAL', name: 'Error', message: `internal error: ${message}`, details: {} } } };
}

/** 401 for a missing or wrong bearer token on TCP. */
export function unauthorized(message: string): WorldRuntimeError {
  return new WorldRuntimeError('UNAUTHORIZED', message);
}

/** 413 for a body over the limit. */
export function tooLarge(limitBytes: number, got?: number): WorldRuntimeError {
  const seen = got === undefined ? 'more' : String(got);
  return new WorldRuntimeError('TOO_LARGE', `request body too large: the limit is ${limitBytes} bytes, got ${seen}`, { details: { limitBytes } });
}

/** 404 for a path no route serves. */
export function noRoute(method: string, path: string): WorldRuntimeError {
  return new WorldRuntimeError('NOT_FOUND', `no route ${method} ${path} (see GET /v1/openapi.json)`, { details: { method, path } });
}
