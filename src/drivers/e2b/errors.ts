/**
 * What the remote engine answers, mapped to the runtime's error classes (drivers/driver.ts): nothing the SDK
 * throws leaves the driver as it came. Also the one retry loop, used only for idempotent calls.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CapacityError, DiskFullError, DriverError, FileNotFoundError, InvalidArgumentError, TimeoutError, WorldRuntimeError } from '../../base/errors.js';

/** A network failure under the SDK's fetch: refused, reset, unresolvable. */
function networkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 4 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z_]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  // Connect (envd) wraps the fetch failure in its own error, keeping only the message.
  const m = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|fetch failed|socket hang up)\b/i.exec(
    err instanceof Error ? err.message : '',
  );
  return m?.[1];
}

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown; status?: unknown } | null)?.statusCode ?? (err as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

const nameOf = (err: unknown) => (err instanceof Error ? err.name : typeof err);
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 2000);

/** True for what may pass on a second try: the network, 5xx, 429, a request timeout. */
export function transient(err: unknown): boolean {
  if (networkCode(err)) return true;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429;
  return nameOf(err) === 'TimeoutError' || (err instanceof Error && err.name === 'AbortError');
}

/**
 * Map an SDK failure of `what` (e.g. "create", "readFile x.txt") against `endpoint`. A sandbox the engine
 * no longer has is not mapped here: the driver decides whether that is a failed world (drivers/e2b/driver.ts).
 */
export function mapError(err: unknown, what: string, endpoint: string): WorldRuntimeError {
  if (WorldRuntimeError.is(err)) return err;
  const name = nameOf(err);
  const msg = messageOf(err);
  const net = networkCode(err);
  if (net) return new DriverError(`e2b engine at ${endpoint} did not answer ${what} (${net}): is it running and reachable?`, err);
  switch (name) {
    case 'AuthenticationError':
      return new DriverError(`e2b engine at ${endpoint} refused the API key (${what}): ${msg}; set e2b.apiKey or E2B_API_KEY`, err);
    case 'FileNotFoundError':
      return new FileNotFoundError(`${what}: ${msg}`);
    case 'NotEnoughSpaceError':
      return new DiskFullError(`${what}: ${msg}`);
    case 'InvalidArgumentError':
      return new InvalidArgumentError(`${what}: ${msg}`);
    case 'RateLimitError':
      return new CapacityError(`e2b engine at ${endpoint} limits the rate (${what}): ${msg}`);
    case 'TimeoutError':
      return new TimeoutError(`e2b ${what} timed out: ${msg}`);
  }
  if (err instanceof Error && err.name === 'AbortError') return new TimeoutError(`e2b ${what} timed out: ${msg}`);
  const status = statusOf(err);
  return new DriverError(`e2b engine at ${endpoint}: ${what} failed${status ? ` (${status})` : ''}: ${name}: ${msg}`, err);
}

/** Call `fn` up to `attempts` times, with backoff (50, 100, 200 ms ...), while it fails transiently. For idempotent calls only. */
export async function retry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts || !transient(err)) throw err;
      await sleep(50 * 2 ** (i - 1));
    }
  }
}
