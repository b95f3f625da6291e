/**
 * Fixtures for the E2B compatibility tests: a real daemon process with a loopback TCP listener, the
 * environment the E2B SDKs read pointed at its `/e2b` prefix (the whole migration, docs/e2b.md), and a
 * guard that fails the test if the SDK opens a connection anywhere but 127.0.0.1.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before } from 'node:test';
import { removeHome, type Spawned, startDaemon, stopAll } from '../../server/helpers.js';

export { waitFor } from '../../fixtures/wait.js';

export interface E2bDaemon {
  d: Spawned;
  /** http://127.0.0.1:PORT/e2b */
  url: string;
  key: string;
}

/** Start a daemon with TCP and point E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY at it. */
export async function startE2bDaemon(args: string[] = []): Promise<E2bDaemon> {
  const d = await startDaemon({ listen: '127.0.0.1:0', args });
  const url = `${d.url as string}/e2b`;
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  process.env.E2B_API_KEY = d.token;
  // Anything that would send the SDK elsewhere must not be set by the test environment.
  delete process.env.E2B_DOMAIN;
  delete process.env.E2B_DEBUG;
  return { d, url, key: d.token };
}

const destinations = new Set<string>();
let guarded = false;

/**
 * Record every TCP connection this process opens; `assertLoopbackOnly()` then fails the test if one went
 * anywhere but loopback (the SDK has a default of https://api.e2b.app).
 */
export function guardNetwork(): void {
  if (guarded) return;
  guarded = true;
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0] as { host?: string; path?: string } | number | string;
    if (typeof first === 'object' && first !== null && !first.path) destinations.add(String(first.host ?? 'localhost'));
    else if (typeof first === 'number') destinations.add(typeof args[1] === 'string' ? args[1] : 'localhost');
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof net.Socket.prototype.connect;
}

export function assertLoopbackOnly(): void {
  assert.ok(destinations.size > 0, 'no TCP connection was seen: the guard is not in place');
  for (const host of destinations) assert.ok(['127.0.0.1', 'localhost', '::1'].includes(host), `the SDK connected to ${host}`);
}

/** Await `p`, which must reject; resolve with what it rejected with. */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the call to fail');
}

/**
 * A suite's daemon and its one sandbox: before the suite, the network guard, a daemon and `make()` (which
 * keeps the sandbox where the tests read it); after, the sandbox killed, the guard checked, the daemon
 * stopped and its home removed.
 */
export function withSandbox(make: () => Promise<{ kill(): Promise<unknown> }>): void {
  let e: E2bDaemon | undefined;
  let sbx: { kill(): Promise<unknown> } | undefined;
  before(async () => {
    guardNetwork();
    e = await startE2bDaemon();
    sbx = await make();
  });
  after(async () => {
    await sbx?.kill();
    assertLoopbackOnly();
    await stopAll();
    if (e) removeHome(e.d.home);
  });
}
