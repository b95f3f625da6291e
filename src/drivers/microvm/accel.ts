/**
 * @module
 * Which accelerator QEMU uses. `auto`: KVM only when /dev/kvm exists, can be opened, AND a stock Debian
 * kernel really boots under it; otherwise TCG (software emulation), with the reason kept for `doctor`.
 *
 * A paravirtual KVM (PVM, the `kvm_pvm` module: KVM without VMX/SVM, as inside a cloud VM) exposes /dev/kvm yet
 * runs only kernels built as its guests: a stock kernel hangs at boot (or QEMU aborts setting an MSR it does
 * not have). That case is read from the host in a millisecond (the CPU's vmx/svm flags and which KVM module is
 * loaded, `describeKvm`) instead of waiting out a boot. Otherwise one cold boot decides, and its outcome is
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

/**
 * What backs /dev/kvm: `hardware` (VMX/SVM and kvm_intel/kvm_amd: a stock kernel boots), `paravirtual` (a
 * stock kernel cannot boot), or `unknown` (a boot has to tell).
 */
export interface KvmKind {
  kind: 'hardware' | 'paravirtual' | 'unknown';
  why: string;
}

/**
 * Tell the kind from the first `flags` line of /proc/cpuinfo (null: unreadable) and the names in /sys/module.
 * Upstream KVM needs the CPU's VMX (Intel) or SVM (AMD) and its vendor module; a CPU with neither can only
 * offer a paravirtual KVM.
 */
export function classifyKvm(cpuinfo: string | null, modules: readonly string[]): KvmKind {
  const flags = cpuinfo === null ? null : new Set((/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? '').trim().split(/\s+/));
  const virt = flags === null ? null : flags.has('vmx') ? 'vmx' : flags.has('svm') ? 'svm' : '';
  const vendor = modules.find((m) => m === 'kvm_intel' || m === 'kvm_amd');
  if (vendor && virt !== '') return { kind: 'hardware', why: `KVM is hardware-backed (${vendor}${virt ? `, CPU flag ${virt}` : ''})` };
  if (modules.includes('kvm_pvm')) {
    return { kind: 'paravirtual', why: 'KVM here is paravirtual (module kvm_pvm, no kvm_intel/kvm_amd): it boots only kernels built as PVM guests' };
  }
  if (virt === '') {
    return { kind: 'paravirtual', why: 'the CPU has neither the vmx nor the svm flag, so this KVM is not hardware-backed and cannot boot a stock kernel' };
  }
  return { kind: 'unknown', why: vendor ? `KVM module ${vendor}, CPU flags unreadable` : 'no kvm_intel, kvm_amd or kvm_pvm module seen' };
}

/** `classifyKvm` of this host. */
export async function describeKvm(): Promise<KvmKind> {
  const cpuinfo = await fs.readFile('/proc/cpuinfo', 'utf8').catch(() => null);
  const modules = await fs.readdir('/sys/module').catch(() => [] as string[]);
  return classifyKvm(cpuinfo, modules);
}

/** Where decideAccel reads the host (tests put in their own). */
export interface HostKvm {
  access: () => Promise<{ ok: boolean; why: string }>;
  describe: () => Promise<KvmKind>;
}

export async function decideAccel(
  mode: 'auto' | 'kvm' | 'tcg',
  base: ProbeBase,
  progress: (m: string) => void,
  probe: () => Promise<void>,
  host: HostKvm = { access: kvmAccess, describe: describeKvm },
): Promise<AccelDecision> {
  if (mode === 'tcg') return { accel: 'tcg', reason: 'TCG (software emulation): chosen by configuration (accel: tcg)' };
  const access = await host.access();
  if (mode === 'kvm') {
    if (!access.ok) throw new DriverError(`accel 'kvm' was asked for but ${access.why}`);
    return { accel: 'kvm', reason: `KVM: chosen by configuration (accel: kvm); ${access.why}` };
  }
  if (!access.ok) return { accel: 'tcg', reason: `TCG (software emulation): ${access.why}` };
  const kvm = await host.describe();
  if (kvm.kind === 'paravirtual') {
    const decision: AccelDecision = { accel: 'tcg', reason: `TCG (software emulation): /dev/kvm is present, but ${kvm.why}` };
    progress(`accelerator: ${decision.reason}`);
    return decision;
  }

  const key = sha256(os.release(), base.kernel.hash, base.initramfs.hash, base.sysImage.hash, base.qemuVersion);
  const cache = path.join(base.dir, 'accel.json');
  try {
    const c = JSON.parse(await fs.readFile(cache, 'utf8')) as { key: string; decision: AccelDecision };
    if (c.key === key) return c.decision;
  } catch {
    /* not probed yet */
  }
  progress(`accelerator: /dev/kvm present (${kvm.why}); probing whether a stock kernel boots under KVM`);
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
