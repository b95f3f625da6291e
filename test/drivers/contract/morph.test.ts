// The driver contract (./suite.ts) for the morph driver, against the Morph-compatible routes of a daemon on
// loopback (never Morph's cloud). That daemon runs the microvm driver: a Morph snapshot keeps every process
// of the VM, and the morph driver's persistent interpreter is such a process (an agent started in the
// instance), so only a backend whose snapshots keep processes can stand in for Morph; microvm's do, the
// process driver's keep only the world's own interpreter. Its assets are copied from the machine-wide
// microvm test cache (test/drivers/microvm/helpers.ts) into the daemon's own home, so nothing this run
// collects can remove another checkout's cached files.
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { MorphDriver } from '../../../src/drivers/morph/index.js';
import { HOME as MICROVM_CACHE, skipReason } from '../microvm/helpers.js';
import { removeHome, type Spawned, startDaemon, stopDaemon, tempHome } from '../../server/helpers.js';
import { driverContract, type Opened } from './suite.js';

let daemon: Spawned | undefined;

async function backend(): Promise<Spawned> {
  if (daemon) return daemon;
  const home = tempHome('wr-morph-contract');
  const cache = join(MICROVM_CACHE, 'microvm');
  if (existsSync(cache)) cpSync(cache, join(home, 'microvm'), { recursive: true });
  daemon = await startDaemon({ home, listen: '127.0.0.1:0', args: ['--driver', 'microvm', '--no-record'] });
  return daemon;
}

// After the suite's own after hook (which closes the driver): the daemon then ends every world left.
after(async () => {
  if (!daemon) return;
  await stopDaemon(daemon);
  removeHome(daemon.home);
});

driverContract({
  name: 'morph (daemon /morph routes on microvm)',
  missing: await skipReason(),
  memoryMib: 512,
  // SIGKILL of the agent's interpreter: what a crash of the world's process would do.
  dieFromInside: 'import os\nos.kill(os.getpid(), 9)',
  // The agent interrupts a timed-out exec with SIGALRM; this code blocks it, so the agent is declared hung.
  stubborn: 'import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\nwhile True:\n    pass',
  timeoutMs: 120_000,
  async open(): Promise<Opened> {
    const d = await backend();
    const driver = new MorphDriver({ apiKey: d.token, baseUrl: `${d.url as string}/morph` });
    return { driver, running: async () => (await driver.leftover()).map((id) => `instance ${id}`) };
  },
});
