/**
 * @module
 * Templates: per (memory, vcpus), a VM booted once, its agent started and warmed, free memory given back,
 * saved; every `create` is a restore of it, never a cold boot. Also the cold boot itself (the KVM probe
 * uses it). Each template is named by the hash of everything it was made from.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DriverError } from '../../base/errors.js';
import type { BaseAssets } from './assets.js';
import { ramDir } from './rundir.js';
import { exists, lockDir, sha256 } from './util.js';
import { type Accel, cpuModel, Vm } from './vm.js';

/** Bump when the way templates are made changes, so caches are rebuilt. */
const TEMPLATE_VERSION = '3';

export interface TemplateAssets {
  key: string;
  memoryMib: number;
  vcpus: number;
  ram: string;
  state: string;
  /** Bytes the RAM file really holds (it is sparse). */
  ramBytes: number;
  bootMs: number;
}

/** A cold boot to a running, answering agent. The caller kills the VM. */
export async function coldBoot(
  base: BaseAssets,
  accel: Accel,
  memoryMib: number,
  vcpus: number,
  workDir: string,
  name: string,
  timeoutMs: number,
): Promise<Vm> {
  const vm = new Vm({
    name,
    qemu: base.qemu,
    setpriv: base.setpriv,
    accel,
    memoryMib,
    vcpus,
    kernel: base.kernel.vmlinuz,
    initrd: base.initramfs.file,
    sysImage: base.sysImage.file,
    cmdline: base.cmdline,
    ramPath: path.join(workDir, `${name}.ram`),
    agentSock: path.join(workDir, `${name}.sock`),
    consolePath: path.join(workDir, `${name}.console`),
    pidPath: path.join(workDir, `${name}.pid`),
  });
  await vm.start();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      vm.agent.request('ping').reply,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new DriverError(`the guest did not answer within ${timeoutMs} ms of a cold boot (${accel})`)), timeoutMs);
      }),
      vm.waitExit().then((e) => Promise.reject(new DriverError(`the guest stopped during boot: ${e.reason}`))),
    ]);
  } catch (e) {
    const tail = await vm.consoleTail(800);
    await vm.kill();
    throw new DriverError(`${(e as Error).message}${tail.trim() ? `\nconsole: ${tail.trim()}` : ''}`);
  } finally {
    clearTimeout(timer);
  }
  return vm;
}

/** Modules imported (in a throwaway namespace) before the template is saved, so clones find them warm. */
const WARM_CODE = [
  'import os, sys, io, re, json, math, time, random, base64, hashlib, itertools, functools, collections',
  'import subprocess, pathlib, datetime, struct, string, textwrap, traceback, copy, decimal, fractions, statistics',
].join('\n');

const REPORTING_ORDER = '/sys/module/page_reporting/parameters/page_reporting_order';
const DROP_CODE = [
  'import gc, os',
  'gc.collect()',
  // report free pages of any size (not only 2 MiB blocks) while the template is made
  `os.path.exists("${REPORTING_ORDER}") and open("${REPORTING_ORDER}", "w").write("0")`,
  'open("/proc/sys/vm/drop_caches", "w").write("3")',
  'open("/proc/sys/vm/compact_memory", "w").write("1")',
].join('\n');
const UNDROP_CODE = `import os\nos.path.exists("${REPORTING_ORDER}") and open("${REPORTING_ORDER}", "w").write("9")`;

async function buildTemplate(
  base: BaseAssets,
  accel: Accel,
  memoryMib: number,
  vcpus: number,
  key: string,
  progress: (m: string) => void,
): Promise<TemplateAssets> {
  const tdir = path.join(base.dir, 'templates', key);
  const work = path.join(await ramDir(), `world-runtime-microvm-setup-${process.pid}-${key.slice(0, 8)}`);
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  const t0 = performance.now();
  progress(`template ${memoryMib} MiB × ${vcpus} vcpu: cold boot (${accel})`);
  let vm: Vm | null = null;
  try {
    vm = await coldBoot(base, accel, memoryMib, vcpus, work, 'template', accel === 'kvm' ? 30_000 : 120_000);
    const bootMs = performance.now() - t0;
    progress(`template: guest answered after ${Math.round(bootMs)} ms; warming the agent`);
    // Warm the paths every world uses (imports, exec, run, files) in a namespace the user never sees.
    await vm.agent.request('exec', { code: `${WARM_CODE}\n1`, scratch: true }).reply;
    await vm.agent.request('run', { argv: 'true' }).reply;
    await vm.agent.request('write_file', { path: '.warm', data: '', first: true, last: true }).reply;
    await vm.agent.request('read_file', { path: '.warm' }).reply;
    await vm.agent.request('exec', { code: 'import os\nos.unlink("/world/.warm")', scratch: true }).reply;
    // Give free memory back: compact it into 2 MiB blocks and wait for free page reporting (2 s delay in
    // the guest) to punch those blocks out of the RAM file, so every clone copies less.
    const before = (await fs.stat(vm.config.ramPath)).blocks * 512;
    await vm.agent.request('exec', { code: DROP_CODE, scratch: true }).reply;
    let prev = before;
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = (await fs.stat(vm.config.ramPath)).blocks * 512;
      if (i >= 5 && now >= prev - 262144) break; // reporting runs 2 s after frees; stop once it settles
      prev = now;
    }
    await vm.agent.request('exec', { code: UNDROP_CODE, scratch: true }).reply;
    progress(
      `template: RAM in use ${(before / 1048576).toFixed(1)} → ${(((await fs.stat(vm.config.ramPath)).blocks * 512) / 1048576).toFixed(1)} MiB after compaction`,
    );
    await fs.rm(tdir, { recursive: true, force: true });
    const stage = `${tdir}.tmp-${process.pid}`;
    await fs.rm(stage, { recursive: true, force: true });
    await fs.mkdir(stage, { recursive: true });
    await fs.writeFile(path.join(stage, 'state'), await vm.save(path.join(stage, 'ram'), true));
    await vm.kill();
    vm = null;
    const ramBytes = (await fs.stat(path.join(stage, 'ram'))).blocks * 512;
    const t: TemplateAssets = { key, memoryMib, vcpus, ram: path.join(tdir, 'ram'), state: path.join(tdir, 'state'), ramBytes, bootMs };
    await fs.writeFile(path.join(stage, 'meta.json'), JSON.stringify(t, null, 2));
    await fs.rename(stage, tdir);
    progress(`template: saved (${(ramBytes / 1048576).toFixed(1)} MiB of RAM in use) in ${Math.round(performance.now() - t0)} ms`);
    return t;
  } finally {
    if (vm) await vm.kill();
    await fs.rm(work, { recursive: true, force: true });
  }
}

export function templateKey(base: BaseAssets, accel: Accel, memoryMib: number, vcpus: number): string {
  return sha256(
    TEMPLATE_VERSION,
    base.kernel.hash,
    base.initramfs.hash,
    base.sysImage.hash,
    base.qemuVersion,
    base.cmdline,
    cpuModel(accel),
    accel,
    String(memoryMib),
    String(vcpus),
  ).slice(0, 16);
}

/** The template for this size, booting and saving it first if needed (under the assets lock). */
export async function ensureTemplate(
  base: BaseAssets,
  accel: Accel,
  memoryMib: number,
  vcpus: number,
  progress: (m: string) => void,
  locked = false,
): Promise<TemplateAssets> {
  const key = templateKey(base, accel, memoryMib, vcpus);
  const tdir = path.join(base.dir, 'templates', key);
  const read = async (): Promise<TemplateAssets | null> => {
    try {
      const meta = JSON.parse(await fs.readFile(path.join(tdir, 'meta.json'), 'utf8')) as TemplateAssets;
      // Paths are this home's, whatever meta.json says (a home may have been moved or copied).
      const t: TemplateAssets = { ...meta, ram: path.join(tdir, 'ram'), state: path.join(tdir, 'state') };
      if (!(await exists(t.ram)) || !(await exists(t.state))) return null;
      return t;
    } catch {
      return null;
    }
  };
  const have = await read();
  if (have) return have;
  const release = locked ? null : await lockDir(base.dir, 'microvm assets');
  try {
    return (await read()) ?? (await buildTemplate(base, accel, memoryMib, vcpus, key, progress));
  } finally {
    await release?.();
  }
}
