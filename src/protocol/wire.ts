/**
 * @module
 * How an action travels: the parts of an HTTP request (method, path, query, body) as plain data, the
 * parsers of query parameters, the field checks a decoder applies, and the error body every failure answers
 * with. Status codes are not here: which status an outcome gets is the daemon's business (src/server/reply.ts).
 */
import { InvalidArgumentError } from '../base/errors.js';
import { boundedJsonCopy } from '../base/json.js';
import { MAX_METADATA_BYTES, MAX_METADATA_DEPTH } from '../base/limits.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** How a request carries its body: none, a JSON object checked against a schema, or raw bytes (a file). */
export type BodyKind = 'none' | 'json' | 'bytes';

/** A request as the action table sees it once its route matched. */
export interface RouteInput {
  /** Path parameters, URL-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body (`{}` for an empty body) on `json` routes, after checking it against the route's schema. */
  body: unknown;
  /** The raw body on `bytes` routes. */
  bytes: Uint8Array;
}

/** The HTTP request that carries one action. */
export interface WireRequest {
  method: HttpMethod;
  /** Path with encoded parameters and query string. */
  path: string;
  /** JSON body, when the route takes one. */
  json?: unknown;
  /** Raw body (file uploads). */
  bytes?: Uint8Array;
}

/** A query parameter's text into its value; throws `InvalidArgumentError` naming the parameter. */
export type QueryParser = (raw: string, name: string) => unknown;

/** Any text. */
export const text: QueryParser = (raw) => raw;

/** An integer within [min, max]. */
export function int(min: number, max: number): QueryParser {
  return (raw, name) => {
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`query ${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
    }
    return n;
  };
}

/** One of `allowed`. */
export function oneOf(allowed: readonly string[]): QueryParser {
  return (raw, name) => {
    if (!allowed.includes(raw)) throw new InvalidArgumentError(`query ${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
    return raw;
  };
}

/**
 * A checked body's optional `metadata`, held to the library's bounds (32 levels, 64 KiB: base/limits.ts)
 * here, so a bad one answers 400 naming `body.metadata` before the daemon reserves capacity for the worlds it
 * would make. The value kept is its JSON copy, as the library keeps it.
 */
export function metadataField(metadata: unknown): { metadata?: Record<string, unknown> } {
  if (metadata === undefined) return {};
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(metadata)) throw new InvalidArgumentError(`body.metadata must be a plain object, got ${JSON.stringify(metadata)?.slice(0, 60)}`);
  return { metadata: boundedJsonCopy('body.metadata', metadata, { maxDepth: MAX_METADATA_DEPTH, maxBytes: MAX_METADATA_BYTES }) as Record<string, unknown> };
}

/** Decimal digits only: no sign, no fraction, no exponent. 40 digits cover 2^128 − 1 with room to spare. */
const AMOUNT = /^[0-9]{1,40}$/;

/**
 * A ledger amount (a decimal string, or a JSON integer within 2^53) as a canonical decimal string: amounts
 * are `bigint`s up to 2^128 − 1 in the ledger, past what a JSON number holds exactly, so they travel as
 * strings. Negative numbers, fractions, exponents and unsafe integers are refused with `INVALID_ARGUMENT`
 * (400); the ledger itself refuses 0 and anything past 2^128 − 1 (`INVALID_AMOUNT`, also 400).
 *
 * @example
 * parseAmount('0100', 'body.amount') // '100'
 * parseAmount(7, 'body.amount')      // '7'
 * parseAmount(1.5, 'body.amount')    // throws InvalidArgumentError
 */
export function parseAmount(raw: unknown, where: string): string {
  if (typeof raw === 'number') {
    if (Number.isSafeInteger(raw) && raw >= 0) return String(raw);
    const hint = Number.isInteger(raw) && raw > 0 ? ' (integers past 2^53 lose precision in JSON: send the amount as a decimal string)' : '';
    throw new InvalidArgumentError(`${where}: expected a whole number ≥ 0, got ${raw}${hint}`, { where, received: raw });
  }
  if (typeof raw === 'string' && AMOUNT.test(raw)) return BigInt(raw).toString();
  const shown = typeof raw === 'string' ? JSON.stringify(raw.slice(0, 60)) : typeof raw;
  throw new InvalidArgumentError(`${where}: expected a whole number ≥ 0 as a decimal string of at most 40 digits, got ${shown}`, { where });
}

/**
 * Error codes only the daemon answers with: failures of the HTTP request itself, not of the runtime (those
 * carry the library's `ErrorCode`s, base/errors.ts). `UNAUTHORIZED`: TCP without the right bearer token;
 * `NOT_FOUND`: no route has this path; `METHOD_NOT_ALLOWED`: one has, for other methods; `TOO_LARGE`: the
 * body is over the daemon's limit; `INTERNAL`: anything the daemon did not expect.
 */
export const DAEMON_FAULT_CODES = ['UNAUTHORIZED', 'NOT_FOUND', 'METHOD_NOT_ALLOWED', 'TOO_LARGE', 'INTERNAL'] as const;
export type FaultCode = (typeof DAEMON_FAULT_CODES)[number];

export function isFaultCode(code: string): code is FaultCode {
  return (DAEMON_FAULT_CODES as readonly string[]).includes(code);
}

/** The body of every error answer (and the data of a stream's `error` event, with its `status`). */
export interface FaultBody {
  error: { code: string; name: string; message: string; details: Record<string, unknown> };
}
