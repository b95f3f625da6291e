// The accelerator decision (src/drivers/microvm/accel.ts): a paravirtual KVM, where a stock kernel cannot
// boot, is told from the host's facts without the boot probe (which waited 20 s on it); other KVMs are
// probed once and the verdict cached. No QEMU needed: the host and the probe are stand-ins.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { classifyKvm, decideAccel, type KvmKind } from '../../../src/drivers/microvm/accel.js';

// The first flags line of /proc/cpuinfo on a paravirtual KVM host (an AMD EPYC cloud VM with kvm_pvm): no svm.
const PVM_FLAGS =
  'flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f';
const cpuinfo = (flags: string) => `processor\t: 0\nvendor_id\t: AuthenticAMD\n${flags}\nbogomips\t: 5192.29\n\nprocessor\t: 1\nflags\t\t: fpu\n`;

test('classifyKvm: hardware, paravirtual or unknown from CPU flags and KVM modules', () => {
  assert.equal(classifyKvm(cpuinfo(PVM_FLAGS), ['kvm', 'kvm_pvm', 'ext4']).kind, 'paravirtual');
  assert.match(classifyKvm(cpuinfo(PVM_FLAGS), ['kvm', 'kvm_pvm']).why, /kvm_pvm/);
  // No vmx/svm: whatever module backs /dev/kvm, it is not hardware KVM.
  assert.equal(classifyKvm(cpuinfo(PVM_FLAGS), ['kvm']).kind, 'paravirtual');
  assert.match(classifyKvm(cpuinfo(PVM_FLAGS), ['kvm']).why, /neither the vmx nor the svm flag/);
  assert.equal(classifyKvm(cpuinfo(`${PVM_FLAGS} svm`), ['kvm', 'kvm_amd']).kind, 'hardware');
  assert.equal(classifyKvm(cpuinfo(`${PVM_FLAGS} vmx`), ['kvm', 'kvm_intel']).kind, 'hardware');
  assert.match(classifyKvm(cpuinfo(`${PVM_FLAGS} vmx`), ['kvm', 'kvm_intel']).why, /kvm_intel, CPU flag vmx/);
  // Hardware KVM loaded beside PVM: hardware wins.
  assert.equal(classifyKvm(cpuinfo(`${PVM_FLAGS} svm`), ['kvm', 'kvm_amd', 'kvm_pvm']).kind, 'hardware');
  // Not enough to tell: a boot has to.
  assert.equal(classifyKvm(cpuinfo(`${PVM_FLAGS} svm`), ['kvm']).kind, 'unknown');
  assert.equal(classifyKvm(null, ['kvm']).kind, 'unknown');
  assert.equal(classifyKvm(null, ['kvm', 'kvm_intel']).kind, 'hardware');
});

/** decideAccel in a scratch dir with a stand-in host; `booted` counts probes. */
async function decide(kind: KvmKind, probe: () => Promise<void>, dir: string) {
  const base = { dir, qemuVersion: '7.2', kernel: { hash: 'k' }, initramfs: { hash: 'i' }, sysImage: { hash: 's' } };
  const host = { access: async () => ({ ok: true, why: '/dev/kvm is present and writable' }), describe: async () => kind };
  return decideAccel('auto', base, () => {}, probe, host);
}

test('decideAccel: a paravirtual KVM is TCG at once, without a boot; other KVMs are probed once, then cached', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-accel-'));
  try {
    let booted = 0;
    const hangs = () => {
      booted++;
      return new Promise<void>(() => {}); // a stock kernel under PVM: never answers
    };
    const t0 = performance.now();
    const pv = await decide({ kind: 'paravirtual', why: 'KVM here is paravirtual (module kvm_pvm)' }, hangs, dir);
    assert.equal(pv.accel, 'tcg');
    assert.match(pv.reason, /^TCG \(software emulation\): \/dev\/kvm is present, but KVM here is paravirtual/);
    assert.equal(booted, 0, 'no boot probe on a paravirtual KVM');
    assert.ok(performance.now() - t0 < 1000);

    const ok = await decide({ kind: 'hardware', why: 'KVM is hardware-backed (kvm_amd)' }, async () => void booted++, dir);
    assert.equal(ok.accel, 'kvm');
    assert.equal(booted, 1);
    assert.equal(JSON.parse(readFileSync(path.join(dir, 'accel.json'), 'utf8')).decision.accel, 'kvm');
    const again = await decide({ kind: 'hardware', why: 'KVM is hardware-backed (kvm_amd)' }, hangs, dir);
    assert.deepEqual(again, ok, 'the cached verdict, no second boot');
    assert.equal(booted, 1);

    rmSync(path.join(dir, 'accel.json'));
    const failed = await decide(
      { kind: 'unknown', why: 'no kvm_intel, kvm_amd or kvm_pvm module seen' },
      async () => {
        booted++;
        throw new Error('the guest did not answer');
      },
      dir,
    );
    assert.equal(failed.accel, 'tcg');
    assert.match(failed.reason, /cannot boot a stock kernel \(the guest did not answer\)/);
    assert.equal(booted, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
