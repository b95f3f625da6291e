/**
 * @module
 * What a route is: a method, an OpenAPI path template, how its body comes, and a `decode` that turns the
 * request into one `WorldAction`. Routes never touch the runtime and never choose a status code.
 */
import { InvalidArgumentError } from '../../base/errors.js';
import { checkMetadata } from '../../core/options.js';
import type { WorldAction } from '../actions.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface RouteInput {
  /** Path parameters, URL-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body (`{}` for an empty body) on `json` routes, after checking it against `schema`. */
  body: unknown;
  /** The raw body on `bytes` routes. */
  bytes: Uint8Array;
}

export interface Route {
  method: HttpMethod;
  /** OpenAPI path template. A trailing `{path}` takes the rest of the path, slashes included. */
  path: string;
  body: 'none' | 'json' | 'bytes';
  /** Name of the request body schema in openapi.json `components.schemas` (json routes). */
  schema?: string;
  /** Query parameters the route knows; any other is refused. */
  query?: readonly string[];
  decode(input: RouteInput): WorldAction;
}

/** Path parameter (always present once the route matched). */
export function param(input: RouteInput, name: string): string {
  const v = input.params[name];
  if (v === undefined || v === '') throw new InvalidArgumentError(`path parameter ${name} is empty`);
  return v;
}

/** An optional integer query parameter within [min, max]. */
export function intQuery(q: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`query ${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** An optional query parameter that must be one of `allowed`. */
export function enumQuery<T extends string>(q: URLSearchParams, name: string, allowed: readonly T[]): T | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  if (!allowed.includes(raw as T)) throw new InvalidArgumentError(`query ${name}: expected one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return raw as T;
}

/** Copy the listed keys that are present (not undefined) from a checked body. */
export function pick<T extends object>(body: unknown, keys: readonly (keyof T & string)[]): Partial<T> {
  const src = body as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of keys) if (src[k] !== undefined) out[k] = src[k];
  return out as Partial<T>;
}

/**
 * A checked body's optional `metadata`, held to the library's bounds (32 levels, 64 KiB) here, so a bad one
 * answers 400 naming `body.metadata` before the executor reserves capacity for the worlds it would make.
 */
export function metadataField(body: unknown): { metadata?: Record<string, unknown> } {
  const m = (body as Record<string, unknown>).metadata;
  return m === undefined ? {} : { metadata: checkMetadata('body.metadata', m) };
}
