/**
 * @module
 * Which accelerator QEMU uses. `auto`: KVM only when /dev/kvm exists, can be opened, AND a stock Debian
 * kernel really boots under it (a paravirtual nested KVM may expose /dev/kvm yet only boot kernels built
 * for it); otherwise TCG (software emulation), with the reason kept for `doctor`. The probe's outcome is
 * cached per (host kernel, guest assets, QEMU version).
 */
import { promises as fs, constants as fsc } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DriverError } from '../../base/errors.js';
import { sha256 } from './util.js';
import type { Accel } from './vm.js';

export interface AccelDecision {
  accel: Accel;
  /** One line: what is used and why. */
  reason: string;
}

interface ProbeBase {
  dir: string;
  qemuVersion: string;
  kernel: { hash: string };
  initramfs: { hash: string };
  sysImage: { hash: string };
}

export async function kvmAccess(): Promise<{ ok: boolean; why: string }> {
  try {
    await fs.access('/dev/kvm', fsc.R_OK | fsc.W_OK);
    return { ok: true, why: '/dev/kvm is present and writable' };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, why: code === 'ENOENT' ? '/dev/kvm is absent' : `/dev/kvm cannot be opened (${code})` };
  }
}

export async function decideAccel(
  mode: 'auto' | 'kvm' | 'tcg',
  base: ProbeBase,
  progress: (m: string) => void,
  probe: () => Promise<void>,
): Promise<AccelDecision> {
  if (mode === 'tcg') return { accel: 'tcg', reason: 'TCG (software emulation): chosen by configuration (accel: tcg)' };
  const access = await kvmAccess();
  if (mode === 'kvm') {
    if (!access.ok) throw new DriverError(`accel 'kvm' was asked for but ${access.why}`);
    return { accel: 'kvm', reason: `KVM: chosen by configuration (accel: kvm); ${access.why}` };
  }
  if (!access.ok) return { accel: 'tcg', reason: `TCG (software emulation): ${access.why}` };

  const key = sha256(os.release(), base.kernel.hash, base.initramfs.hash, base.sysImage.hash, base.qemuVersion);
  const cache = path.join(base.dir, 'accel.json');
  try {
    const c = JSON.parse(await fs.readFile(cache, 'utf8')) as { key: string; decision: AccelDecision };
    if (c.key === key) return c.decision;
  } catch {
    /* not probed yet */
  }
  progress('accelerator: /dev/kvm present; probing whether a stock kernel boots under KVM');
  let decision: AccelDecision;
  const t0 = performance.now();
  try {
    await probe();
    decision = { accel: 'kvm', reason: `KVM: a stock kernel booted under it in ${Math.round(performance.now() - t0)} ms` };
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    decision = { accel: 'tcg', reason: `TCG (software emulation): KVM present but cannot boot a stock kernel (${why})` };
  }
  await fs.writeFile(cache, JSON.stringify({ key, decision }, null, 2));
  progress(`accelerator: ${decision.reason}`);
  return decision;
}
