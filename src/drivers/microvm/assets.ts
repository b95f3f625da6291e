/**
 * @module
 * `setupMicrovm`: everything a microvm world is made from, cached under `<home>/microvm/` and rebuilt when
 * an input changes (each asset is named by the hash of its inputs), one file per job:
 *
 * - the guest kernel and its virtio/ext4 modules (Debian package): kernel.ts;
 * - the initramfs (busybox, modules, init and the agent): initramfs.ts;
 * - the system image (the host's python3, its stdlib and libraries, read-only at /usr): sysimage.ts;
 * - the accelerator decision (KVM only when a stock kernel can boot under it): accel.ts;
 * - a template snapshot per (memory, vcpus), which every `create` restores: template.ts.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { env } from '../../base/config.js';
import { DriverError } from '../../base/errors.js';
import { type AccelDecision, decideAccel } from './accel.js';
import { ensureInitramfs } from './initramfs.js';
import { ensureKernel, type KernelAssets } from './kernel.js';
import { ramDir } from './rundir.js';
import { ensureSysImage } from './sysimage.js';
import { coldBoot, ensureTemplate, type TemplateAssets, templateKey } from './template.js';
import { lockDir, runTool, which } from './util.js';
import { KERNEL_CMDLINE } from './vm.js';

export type AccelMode = 'auto' | 'kvm' | 'tcg';

export interface SetupOptions {
  /** State directory; assets go to `<home>/microvm/`. */
  home: string;
  onProgress?: (msg: string) => void;
  accel?: AccelMode;
  /** Template to make ready now (more are made on demand). @default 512 */
  memoryMib?: number;
  /** @default 1 */
  vcpus?: number;
}

export interface BaseAssets {
  dir: string;
  qemu: string;
  qemuVersion: string;
  setpriv: string | null;
  kernel: KernelAssets;
  initramfs: { file: string; hash: string };
  sysImage: { file: string; hash: string; bytes: number };
  cmdline: string;
}

export interface MicrovmAssets extends BaseAssets {
  accel: AccelDecision;
  /** The template made ready by this call. */
  template: TemplateAssets;
}

export async function findQemu(): Promise<{ qemu: string; version: string } | null> {
  const qemu = env('WORLD_RUNTIME_QEMU') ?? (await which('qemu-system-x86_64'));
  if (!qemu) return null;
  const { stdout } = await runTool(qemu, ['--version'], { timeoutMs: 20_000 });
  const version = /version\s+(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0] ?? 'unknown';
  return { qemu, version };
}

/** Boot the stock kernel under KVM once: resolves if the agent answers, rejects with why not. */
async function probeKvm(base: BaseAssets): Promise<void> {
  const work = path.join(await ramDir(), `world-runtime-microvm-probe-${process.pid}`);
  await fs.mkdir(work, { recursive: true });
  try {
    const vm = await coldBoot(base, 'kvm', 128, 1, work, 'probe', 20_000);
    await vm.kill();
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** Remove cached assets no longer referenced (old kernels' builds, images, templates). */
async function collectGarbage(dir: string, keep: { initramfs: string; sysImage: string; base: BaseAssets }) {
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const p = path.join(dir, name);
    if ((name.startsWith('initramfs-') && p !== keep.initramfs) || (name.startsWith('system-') && p !== keep.sysImage)) {
      await fs.rm(p, { force: true });
    }
  }
  const tdir = path.join(dir, 'templates');
  for (const name of await fs.readdir(tdir).catch(() => [] as string[])) {
    const p = path.join(tdir, name);
    try {
      const t = JSON.parse(await fs.readFile(path.join(p, 'meta.json'), 'utf8')) as TemplateAssets;
      for (const accel of ['tcg', 'kvm'] as const) {
        if (templateKey(keep.base, accel, t.memoryMib, t.vcpus) === name) throw new Error('keep');
      }
      await fs.rm(p, { recursive: true, force: true });
    } catch (e) {
      if ((e as Error).message !== 'keep') await fs.rm(p, { recursive: true, force: true });
    }
  }
}

/** Kernel, initramfs, system image and accelerator: everything but templates. Holds no lock. */
async function ensureBase(home: string, progress: (m: string) => void): Promise<BaseAssets> {
  const dir = path.join(home, 'microvm');
  const found = await findQemu();
  if (!found) throw new DriverError('qemu-system-x86_64 not found: install the Debian package qemu-system-x86');
  const kernel = await ensureKernel(path.join(dir, 'kernel'), progress);
  const initramfs = await ensureInitramfs(dir, kernel, progress);
  const sysImage = await ensureSysImage(dir, progress);
  return {
    dir,
    qemu: found.qemu,
    qemuVersion: found.version,
    setpriv: await which('setpriv'),
    kernel,
    initramfs,
    sysImage,
    cmdline: KERNEL_CMDLINE,
  };
}

/**
 * Make the microvm driver ready: fetch the kernel, build initramfs and system image, decide the accelerator,
 * boot and save the template. Idempotent and safe to call from several processes at once (a lock in
 * `<home>/microvm/`); a second call with nothing changed costs a few hashes.
 */
export async function setupMicrovm(opts: SetupOptions): Promise<MicrovmAssets> {
  const progress = opts.onProgress ?? (() => {});
  const dir = path.join(opts.home, 'microvm');
  await fs.mkdir(dir, { recursive: true });
  const release = await lockDir(dir, 'microvm assets');
  try {
    const base = await ensureBase(opts.home, progress);
    const accel = await decideAccel(opts.accel ?? 'auto', base, progress, () => probeKvm(base));
    const template = await ensureTemplate(base, accel.accel, opts.memoryMib ?? 512, opts.vcpus ?? 1, progress, true);
    await collectGarbage(dir, { initramfs: base.initramfs.file, sysImage: base.sysImage.file, base });
    return { ...base, accel, template };
  } finally {
    await release();
  }
}
