/**
 * @module
 * Morph's REST API as the morph driver calls it, with Node's fetch: every request has a timeout; a refused
 * connection, a timeout or a 5xx is retried with backoff when the request is idempotent (GET, DELETE, and
 * the calls the driver marks so); whatever is left becomes a `DriverError` naming the endpoint and carrying
 * the engine's own message. A 404 is `MorphNotFound`, which the driver turns into the not-found error of
 * the handle it asked about.
 */
import { DriverError, CapacityError } from '../../base/errors.js';

export const MORPH_CLOUD_URL = 'https://cloud.morph.so/api';
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const ATTEMPTS = 4;
const BACKOFF_MS = 100;

export class MorphNotFound extends Error {
  override name = 'MorphNotFound';
}

export interface RestOptions {
  apiKey: string;
  baseUrl: string;
  requestTimeoutMs: number;
}

export interface Call {
  query?: Record<string, string>;
  body?: unknown;
  /** Safe to send again after a failure that may have reached the engine. @default GET and DELETE */
  idempotent?: boolean;
  /** This call's own timeout (exec calls last as long as their command). */
  timeoutMs?: number;
}

/** The engine's message from an error body: Morph answers `{detail}`; anything else is shown cut short. */
function engineMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { detail?: unknown; message?: unknown };
    const d = j.detail ?? j.message;
    if (d !== undefined) return typeof d === 'string' ? d : JSON.stringify(d);
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 500) || '(empty body)';
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MorphRest {
  constructor(readonly opts: RestOptions) {}

  get endpoint(): string {
    return this.opts.baseUrl;
  }

  // biome-ignore lint/suspicious/noExplicitAny: Morph's JSON is read field by field by the driver
  async request(method: string, path: string, call: Call = {}): Promise<any> {
    const idempotent = call.idempotent ?? (method === 'GET' || method === 'DELETE');
    const url = new URL(this.opts.baseUrl.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(call.query ?? {})) url.searchParams.set(k, v);
    const where = `morph ${method} ${url.pathname}`;
    let last: Error | undefined;
    for (let attempt = 0; attempt < (idempotent ? ATTEMPTS : 1); attempt++) {
      if (attempt > 0) await sleep(BACKOFF_MS * 2 ** (attempt - 1));
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${this.opts.apiKey}` },
          body: call.body === undefined ? undefined : JSON.stringify(call.body),
          signal: AbortSignal.timeout(call.timeoutMs ?? this.opts.requestTimeoutMs),
        });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        const why = e.name === 'TimeoutError' ? `no answer within ${call.timeoutMs ?? this.opts.requestTimeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
        last = new DriverError(`${where}: cannot reach the Morph API at ${this.opts.baseUrl}: ${why}`, err);
        continue;
      }
      const text = await res.text().catch(() => '');
      if (res.ok) {
        if (text === '') return {};
        try {
          return JSON.parse(text);
        } catch {
          throw new DriverError(`${where}: the Morph API answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
        }
      }
      const message = engineMessage(text);
      if (res.status === 404) throw new MorphNotFound(`${where}: ${message}`);
      if (res.status === 429) throw new CapacityError(`${where}: the Morph API refused (429): ${message}`);
      last = new DriverError(`${where}: the Morph API answered ${res.status}: ${message}`);
      if (res.status < 500) throw last;
    }
    throw last as Error;
  }
}
