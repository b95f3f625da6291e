/**
 * Shared by the microvm driver tests: the state directory (assets cached across runs), the skip reason when
 * QEMU is not installed, and process/file checks for leftovers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findQemu } from '../../../src/drivers/microvm/assets.js';
import { MicrovmDriver, type MicrovmDriverOptions } from '../../../src/drivers/microvm/index.js';

/** One home for every microvm test file (and the bench), so the kernel, images and templates are built once per machine. */
export const HOME =
  process.env.WORLD_RUNTIME_MICROVM_TEST_HOME ?? process.env.WORLD_RUNTIME_MICROVM_HOME ?? path.join(os.tmpdir(), 'world-runtime-microvm-assets');

/** Why the microvm tests are skipped, or false when QEMU is there (the only reason to skip). */
export async function skipReason(): Promise<string | false> {
  const q = await findQemu().catch(() => null);
  return q ? false : 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 busybox-static cpio python3)';
}

export function driver(extra: Partial<MicrovmDriverOptions> = {}): MicrovmDriver {
  return new MicrovmDriver({
    home: HOME,
    onProgress: process.env.MICROVM_TEST_VERBOSE ? (m) => process.stderr.write(`  [microvm] ${m}\n`) : undefined,
    ...extra,
  });
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of QEMU processes whose command line mentions `dir`. */
export function qemusIn(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes(dir) && alive(Number(name))) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

// The tests' one poll helper, re-exported for the microvm test files.
export { waitFor } from '../../fixtures/wait.js';
