// The driver contract (./suite.ts) for the e2b driver, pointed at a real daemon's E2B-compatible API on
// 127.0.0.1 (docs/e2b.md): the driver and that API test each other. Every endpoint is given explicitly and
// the connection guard of test/compat/e2b fails the run if the SDK reaches any other address.
import { after } from 'node:test';
import { E2bDriver } from '../../../src/drivers/e2b/index.js';
import { assertLoopbackOnly, guardNetwork } from '../../compat/e2b/helpers.js';
import { removeHome, type Spawned, startDaemon, stopAll } from '../../server/helpers.js';
import { driverContract, type Opened } from './suite.js';

let daemon: Promise<Spawned> | undefined;
function started(): Promise<Spawned> {
  guardNetwork();
  daemon ??= startDaemon({ listen: '127.0.0.1:0' });
  return daemon;
}

after(async () => {
  if (!daemon) return;
  const d = await daemon;
  assertLoopbackOnly();
  await stopAll();
  removeHome(d.home);
});

driverContract({
  name: 'e2b (against the daemon’s E2B-compatible API)',
  missing: false,
  memoryMib: 256,
  // SIGKILL of the sandbox's interpreter: the daemon's world dies with it, and the sandbox is gone.
  dieFromInside: 'import os\nos.kill(os.getpid(), 9)',
  // The driver's in-world timeout is SIGALRM; this code blocks it, so the driver has to kill the sandbox.
  stubborn: 'import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\nwhile True:\n    pass',
  async open(): Promise<Opened> {
    const d = await started();
    const url = `${d.url as string}/e2b`;
    const driver = new E2bDriver({ apiUrl: url, sandboxUrl: url, domain: 'world-runtime.invalid', apiKey: d.token });
    // What of this driver still runs: its sandboxes, as the daemon lists them.
    return { driver, running: async () => (await driver.sandboxes()).map((id) => `sandbox ${id}`) };
  },
});
