// The driver contract (./suite.ts) for the microvm driver, in the machine-wide asset home its own tests use
// (test/drivers/microvm/helpers.ts), so the kernel, images and templates are built once. Worlds are 512 MiB
// with one vCPU, the shape those tests keep templates for: under TCG a new shape would boot from scratch.
import { driver, qemusIn, skipReason } from '../microvm/helpers.js';
import { driverContract, type Opened } from './suite.js';

driverContract({
  name: 'microvm',
  missing: await skipReason(),
  memoryMib: 512,
  // A guest kernel panic (sysrq c): QEMU exits, as it would for a crashed guest.
  dieFromInside: 'open("/proc/sysrq-trigger", "w").write("c")',
  // The guest agent interrupts a timed-out exec with SIGALRM; this code blocks it, so the guest is declared hung.
  stubborn: 'import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\nwhile True:\n    pass',
  timeoutMs: 120_000,
  async open(): Promise<Opened> {
    const d = driver({ hangGraceMs: 1500 });
    let dir: string | undefined;
    return {
      driver: d,
      running: async () => {
        dir ??= await d.runDirectory();
        return dir ? qemusIn(dir).map((pid) => `qemu ${pid} in ${dir}`) : [];
      },
    };
  },
});
