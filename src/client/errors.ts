/**
 * @module
 * The errors a `DaemonClient` rejects with. An answer of the runtime (a wrong state, an unknown world, a
 * ledger refusal) is rebuilt as the same `WorldRuntimeError` class the daemon threw (`errorFromJSON`); a
 * failure of the request itself, with one of the daemon's own codes (src/protocol/wire.ts: `UNAUTHORIZED`,
 * `NOT_FOUND`, `METHOD_NOT_ALLOWED`, `TOO_LARGE`, `INTERNAL`), is a `DaemonFault`; nothing answering at all
 * is a `DaemonUnreachableError`. Each carries the HTTP status in `details.status`.
 */
import { type ErrorCode, errorFromJSON, WorldRuntimeError } from '../base/errors.js';
import { type FaultCode, isFaultCode } from '../protocol/wire.js';

/** Nothing answers at the socket or URL (not started, or gone). The CLI starts a daemon on this. */
export class DaemonUnreachableError extends Error {
  override name = 'DaemonUnreachableError';
  readonly code = 'DAEMON_UNREACHABLE';
  constructor(
    readonly where: string,
    cause: unknown,
  ) {
    super(`no daemon answers at ${where}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** The daemon refused the request itself (a wrong token, no such route, a body too large, an internal error). */
export class DaemonFault extends Error {
  override name = 'DaemonFault';
  constructor(
    readonly code: FaultCode,
    message: string,
    /** What the daemon said about it, and the HTTP `status`. */
    readonly details: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The error a fault body (`{error: {code, name, message, details}}`) describes, with the HTTP status in `details.status`. */
export function faultToError(status: number, body: Buffer | unknown): WorldRuntimeError | DaemonFault {
  let parsed: unknown = body;
  if (Buffer.isBuffer(body)) {
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
  }
  const fault = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)?.error;
  if (fault && typeof fault.code === 'string' && typeof fault.message === 'string') {
    const details = { ...(typeof fault.details === 'object' && fault.details !== null ? (fault.details as Record<string, unknown>) : {}), status };
    if (isFaultCode(fault.code)) return new DaemonFault(fault.code, fault.message, details);
    // A code this client does not know (a newer daemon) rebuilds as the base class, keeping the code.
    return errorFromJSON({ code: fault.code as ErrorCode, message: fault.message, details });
  }
  const text = Buffer.isBuffer(body) ? body.toString('utf8').slice(0, 200) : String(body);
  return new WorldRuntimeError('DRIVER', `daemon answered HTTP ${status}: ${text}`, { details: { status } });
}
