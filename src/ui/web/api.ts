/**
 * @module
 * How the page talks to its daemon: the view's own JSON (`/ui/api/…`), the daemon's actions
 * (`/ui/api/v1/…`, the /v1 API authorised by the session cookie), and the live update stream. Every request
 * is same-origin; the browser sends the cookie and its Origin by itself.
 */
import type { FeedMessages } from './model.js';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function parse<T>(res: Response): Promise<T> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below by status
  }
  if (!res.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, err?.code ?? 'HTTP', err?.message ?? `${res.status} ${res.statusText}`);
  }
  return body as T;
}

/** GET one of the view's own endpoints, e.g. `tree`, `node/w-1`. */
export async function view<T>(path: string): Promise<T> {
  return parse<T>(await fetch(`/ui/api/${path}`, { headers: { accept: 'application/json' } }));
}

/** One daemon action: `v1('POST', '/worlds/w-1/snapshots', {name})`. */
export async function v1<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { ...init.headers, 'content-type': 'application/json' };
  }
  return parse<T>(await fetch(`/ui/api/v1${path}`, init));
}

export type FeedHandlers = { [K in keyof FeedMessages]: (data: FeedMessages[K]) => void } & {
  /** The stream is up (true) or reconnecting (false). */
  state(up: boolean): void;
};

/** The live update stream: one EventSource, which the browser reconnects by itself. */
export function openFeed(handlers: FeedHandlers): EventSource {
  const es = new EventSource('/ui/api/events');
  for (const name of ['hello', 'node', 'event', 'balances', 'exec'] as const) {
    es.addEventListener(name, (e) => {
      try {
        (handlers[name] as (d: unknown) => void)(JSON.parse((e as MessageEvent<string>).data));
      } catch (err) {
        console.error(`update ${name} failed`, err);
      }
    });
  }
  es.addEventListener('open', () => handlers.state(true));
  es.addEventListener('error', () => handlers.state(false));
  return es;
}
