/**
 * @module
 * `doctor()` of the microvm driver: what it uses and why (QEMU, accelerator, assets, pools, snapshot space),
 * from what has been set up, or, before the first world, from what is on the machine and in the cache.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DriverReport } from '../driver.js';
import { describeKvm, kvmAccess } from './accel.js';
import { type AccelMode, findQemu } from './assets.js';
import type { Ctx } from './fleet.js';
import { ramDir } from './rundir.js';
import { which } from './util.js';

export interface ReportFacts {
  home: string;
  accel: AccelMode;
  /** The driver's setup, the error it failed with, or null before the first world. */
  ctx: Ctx | Error | null;
  pools: { spareWorlds: number; spareVms: number };
  hangGraceMs: number;
  /** Spares ready now. */
  spares: { worlds: number; vms: number };
  snapshots: { count: number; bytes: number; budgetBytes: number };
  runningWorlds: number;
}

export function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

export async function doctorReport(f: ReportFacts): Promise<DriverReport> {
  const notes: string[] = [];
  const report: DriverReport = { driver: 'microvm', available: false, notes };
  const q = await findQemu().catch(() => null);
  if (!q) {
    notes.push('qemu-system-x86_64 not found: apt-get install qemu-system-x86 busybox-static python3');
    return report;
  }
  report.qemu = q.qemu;
  report.qemuVersion = q.version;
  notes.push(`QEMU ${q.version} at ${q.qemu}`);
  notes.push(
    (await which('setpriv'))
      ? 'QEMU runs under setpriv --pdeathsig KILL (dies with its parent)'
      : 'setpriv not found: only the supervisor cleans up after a killed parent',
  );
  const { ctx } = f;
  if (ctx && !(ctx instanceof Error)) {
    const a = ctx.assets;
    report.available = true;
    report.accel = a.accel.accel;
    notes.push(`accelerator: ${a.accel.reason}`);
    notes.push(`kernel: ${a.kernel.pkg} (${a.kernel.modules.length} modules in the initramfs)`);
    notes.push(`system image: ${path.basename(a.sysImage.file)} (${mib(a.sysImage.bytes)} MiB, python + stdlib, read-only)`);
    notes.push(
      `template ${a.template.memoryMib} MiB × ${a.template.vcpus}: ${mib(a.template.ramBytes)} MiB of RAM in use, cold boot ${Math.round(a.template.bootMs)} ms`,
    );
    notes.push(`run directory: ${ctx.run.path}`);
    notes.push(`snapshots: ${f.snapshots.count} holding ${mib(f.snapshots.bytes)} MiB of ${mib(f.snapshots.budgetBytes)} MiB allowed`);
    notes.push(`worlds: ${f.runningWorlds} running`);
    report.snapshotBytes = f.snapshots.bytes;
    report.snapshotBudgetBytes = f.snapshots.budgetBytes;
    report.assets = { kernel: a.kernel.pkg, initramfs: a.initramfs.file, sysImage: a.sysImage.file, template: a.template.key };
  } else {
    if (ctx instanceof Error) notes.push(`setup failed: ${ctx.message}`);
    const accel = await accelBeforeSetup(f.home, f.accel);
    report.accel = /^KVM/.test(accel.text) ? 'kvm' : 'tcg';
    notes.push(`accelerator: ${accel.text}`);
    const dir = path.join(f.home, 'microvm');
    const templates = await fs.readdir(path.join(dir, 'templates')).catch(() => [] as string[]);
    const kernels = await fs.readdir(path.join(dir, 'kernel')).catch(() => [] as string[]);
    notes.push(
      templates.length
        ? `assets: cached in ${dir} (${kernels.filter((k) => !k.startsWith('.')).join(', ') || 'no kernel'}; ${templates.length} template(s)); checked on first use`
        : `assets: not built yet in ${dir}; built on first use (kernel fetched with apt-get download, ≈15 s under TCG)`,
    );
    report.available = accel.usable;
  }
  const { spareWorlds, spareVms } = f.pools;
  notes.push(
    `pools per (memory, vcpus) shape in use: ${spareWorlds} spare world(s) for create, ${spareVms} spare VM(s) for restores (options spareWorlds, spareVms); ready now: ${f.spares.worlds} spare world(s), ${f.spares.vms} spare VM(s)`,
  );
  report.pools = { spareWorlds, spareVms, ready: f.spares };
  notes.push(`a guest that has not answered ${f.hangGraceMs} ms after an exec or run timeout is hung: its world fails (option hangGraceMs)`);
  report.hangGraceMs = f.hangGraceMs;
  notes.push(`RAM files on ${await ramDir()} (tmpfs); guest sees only its own /world, a read-only python image at /usr; no network device`);
  notes.push(`host: ${os.cpus().length} CPUs`);
  return report;
}

/** The accelerator the first world will use, as far as can be told without booting one. */
async function accelBeforeSetup(home: string, mode: AccelMode): Promise<{ text: string; usable: boolean }> {
  if (mode === 'tcg') return { text: 'TCG (software emulation): chosen by configuration', usable: true };
  const kvm = await kvmAccess();
  if (!kvm.ok)
    return mode === 'kvm'
      ? { text: `KVM asked for but ${kvm.why}: unavailable`, usable: false }
      : { text: `TCG (software emulation): ${kvm.why}`, usable: true };
  if (mode === 'kvm') return { text: `KVM: chosen by configuration; ${kvm.why}`, usable: true };
  const kind = await describeKvm();
  if (kind.kind === 'paravirtual') return { text: `TCG (software emulation): /dev/kvm is present, but ${kind.why}`, usable: true };
  const cached = await fs
    .readFile(path.join(home, 'microvm', 'accel.json'), 'utf8')
    .then((s) => (JSON.parse(s) as { decision: { reason: string } }).decision.reason)
    .catch(() => null);
  return { text: cached ?? `${kvm.why} (${kind.why}); whether a stock kernel boots under KVM is probed on first use`, usable: true };
}
