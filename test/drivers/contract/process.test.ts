// The driver contract (./suite.ts) for the process driver: as WorldRuntime opens it (default pools), and with
// both pools off, where every create is a cold start and every branch a fork on the spot.
import { rmSync } from 'node:fs';
import { findPython } from '../../../src/drivers/process/setup.js';
import { ProcessDriver, type ProcessDriverOptions } from '../../../src/drivers/process/driver.js';
import { processesMentioning, tempHome } from '../../fixtures/runtime.js';
import { driverContract, type Opened } from './suite.js';

function missing(): string | false {
  try {
    findPython();
    return false;
  } catch (err) {
    return `the process driver needs python3: ${(err as Error).message}`;
  }
}

function target(name: string, options: Partial<ProcessDriverOptions>) {
  return {
    name,
    missing: missing(),
    memoryMib: 256,
    // SIGKILL of the world's own process: what a segfault or the OOM killer would do.
    dieFromInside: 'import os\nos.kill(os.getpid(), 9)',
    // The driver interrupts a timed-out exec with SIGINT (KeyboardInterrupt); this code swallows it.
    stubborn: 'import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass',
    async open(): Promise<Opened> {
      const home = tempHome('wr-contract');
      const driver = await ProcessDriver.open({ home, warn: () => {}, interruptGraceMs: 1000, ...options });
      return {
        driver,
        running: async () => processesMentioning(home).map((p) => `${p.pid} ${p.cmdline}`),
        dispose: () => rmSync(home, { recursive: true, force: true }),
      };
    },
  };
}

driverContract(target('process (default pools)', {}));
driverContract(target('process (pools off)', { pool: { worlds: 0, branchesPerSnapshot: 0 } }));
