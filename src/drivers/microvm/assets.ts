/**
 * @module
 * `setupMicrovm`: everything a microvm world is made from, cached under `<home>/microvm/` and rebuilt when
 * an input changes (each asset is named by the hash of its inputs):
 *
 * - the guest kernel and its virtio/ext4 modules (Debian package, see kernel.ts);
 * - the initramfs: static busybox, the modules, `agent/guest/init` and `agent/guest/agent.py`;
 * - the system image: a read-only ext2 image of the host's python3, its stdlib and the libraries they load,
 *   mounted at /usr in the guest (a 9p share of the host would block migration, so snapshots, in QEMU);
 * - the accelerator decision (KVM only when a stock kernel really boots under it);
 * - a template snapshot per (memory, vcpus): booted once, agent started and warmed, saved; every `create`
 *   is a clone of it, never a cold boot.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError } from '../../base/errors.js';
import { type AccelDecision, decideAccel } from './accel.js';
import { buildCpio, type CpioEntry } from './cpio.js';
import { ensureKernel, type KernelAssets } from './kernel.js';
import { exists, lockDir, runTool, sha256, which } from './util.js';
import { type Accel, cpuModel, KERNEL_CMDLINE, Vm } from './vm.js';
import { env } from '../../base/config.js';

/** Bump when the way assets are built changes, so caches are rebuilt. */
const BUILDER_VERSION = '3';

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

export interface MicrovmAssets extends BaseAssets {
  accel: AccelDecision;
  /** The template made ready by this call. */
  template: TemplateAssets;
}

/** Where the guest-side files (init, agent.py) live: `agent/guest/` at the package root. */
export async function guestDir(): Promise<string> {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const cand = path.join(dir, 'agent', 'guest');
    if (await exists(path.join(cand, 'agent.py'))) return cand;
    dir = path.dirname(dir);
  }
  throw new DriverError('agent/guest/agent.py not found above the microvm driver');
}

export async function findQemu(): Promise<{ qemu: string; version: string } | null> {
  const qemu = env('WORLD_RUNTIME_QEMU') ?? (await which('qemu-system-x86_64'));
  if (!qemu) return null;
  const { stdout } = await runTool(qemu, ['--version'], { timeoutMs: 20_000 });
  const version = /version\s+(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0] ?? 'unknown';
  return { qemu, version };
}

// ------------------------------------------------------------------ initramfs

/** A static executable has no PT_INTERP program header (ELF64 little-endian). */
async function isStaticElf(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(65536);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2) return false;
    const phoff = Number(head.readBigUInt64LE(0x20));
    const phentsize = head.readUInt16LE(0x36);
    const phnum = head.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) {
      const off = phoff + i * phentsize;
      if (off + 4 > bytesRead) return false;
      if (head.readUInt32LE(off) === 3) return false; // PT_INTERP
    }
    return true;
  } finally {
    await fh.close();
  }
}

async function findStaticBusybox(): Promise<string> {
  for (const cand of ['/bin/busybox', '/usr/bin/busybox', await which('busybox')]) {
    if (!cand || !(await exists(cand))) continue;
    if (await isStaticElf(cand)) return cand;
  }
  throw new DriverError('no static busybox found: install the Debian package busybox-static');
}

async function ensureInitramfs(dir: string, kernel: KernelAssets, progress: (m: string) => void) {
  const gdir = await guestDir();
  const busybox = await findStaticBusybox();
  // The guest agent shares agent/worldexec.py (exec and run) and agent/protocol.py (codes, envelope, files)
  // with the process driver's agent.
  const [bbStat, init, agent, worldexec, protocol] = await Promise.all([
    fs.stat(busybox),
    fs.readFile(path.join(gdir, 'init')),
    fs.readFile(path.join(gdir, 'agent.py')),
    fs.readFile(path.join(gdir, '..', 'worldexec.py')),
    fs.readFile(path.join(gdir, '..', 'protocol.py')),
  ]);
  const hash = sha256(BUILDER_VERSION, busybox, String(bbStat.size), String(bbStat.mtimeMs), init, agent, worldexec, protocol, kernel.hash).slice(0, 16);
  const file = path.join(dir, `initramfs-${hash}.cpio`);
  if (await exists(file)) return { file, hash };
  const bb = await fs.readFile(busybox);
  progress('initramfs: building');
  const { stdout } = await runTool(busybox, ['--list']);
  const applets = stdout.split('\n').filter((a) => a && a !== 'busybox' && !a.includes('/'));
  const entries: CpioEntry[] = [];
  for (const d of ['bin', 'dev', 'proc', 'sys', 'usr', 'tmp', 'world', 'etc', 'modules', 'agent', 'root', 'run', 'var']) {
    entries.push({ kind: 'dir', name: d, mode: d === 'tmp' ? 0o1777 : 0o755 });
  }
  entries.push({ kind: 'chardev', name: 'dev/console', major: 5, minor: 1 });
  entries.push({ kind: 'chardev', name: 'dev/null', major: 1, minor: 3, mode: 0o666 });
  entries.push({ kind: 'symlink', name: 'lib', target: 'usr/lib' });
  entries.push({ kind: 'symlink', name: 'lib64', target: 'usr/lib64' });
  entries.push({ kind: 'symlink', name: 'sbin', target: 'bin' });
  entries.push({ kind: 'file', name: 'bin/busybox', data: bb, mode: 0o755 });
  for (const a of applets) entries.push({ kind: 'symlink', name: `bin/${a}`, target: 'busybox' });
  entries.push({ kind: 'file', name: 'init', data: init, mode: 0o755 });
  entries.push({ kind: 'file', name: 'agent/agent.py', data: agent });
  entries.push({ kind: 'file', name: 'agent/worldexec.py', data: worldexec });
  entries.push({ kind: 'file', name: 'agent/protocol.py', data: protocol });
  for (const m of kernel.modules) entries.push({ kind: 'file', name: `modules/${m.name}.ko`, data: await fs.readFile(m.file) });
  entries.push({ kind: 'file', name: 'modules/order', data: Buffer.from(`${kernel.modules.map((m) => m.name).join('\n')}\n`) });
  entries.push({ kind: 'file', name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/world:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n') });
  entries.push({ kind: 'file', name: 'etc/group', data: Buffer.from('root:x:0:\nnogroup:x:65534:\n') });
  entries.push({ kind: 'file', name: 'etc/hosts', data: Buffer.from('127.0.0.1 localhost world\n::1 localhost\n') });
  entries.push({ kind: 'file', name: 'etc/hostname', data: Buffer.from('world\n') });
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, buildCpio(entries));
  await fs.rename(tmp, file);
  return { file, hash };
}

// ------------------------------------------------------------------ system image

/** Parts of the stdlib a world never needs (and that are large). */
const STDLIB_SKIP = new Set(['test', 'idlelib', 'tkinter', 'turtledemo', 'ensurepip', 'site-packages', 'dist-packages']);

interface PyFacts {
  exe: string;
  stdlib: string;
  version: string;
}

async function pythonFacts(): Promise<PyFacts> {
  const py = '/usr/bin/python3';
  if (!(await exists(py))) throw new DriverError('/usr/bin/python3 not found: install the Debian package python3 (the guest runs it)');
  const { stdout } = await runTool(py, [
    '-I',
    '-S',
    '-c',
    'import os,sys,sysconfig;print(os.path.realpath(sys.executable));print(sysconfig.get_paths()["stdlib"]);print("%d.%d"%sys.version_info[:2])',
  ]);
  const [exe = '', stdlib = '', version = ''] = stdout.trim().split('\n');
  if (!exe.startsWith('/usr/') || !stdlib.startsWith('/usr/')) {
    throw new DriverError(`the host python3 (${exe}, stdlib ${stdlib}) is not under /usr; cannot build the guest image`);
  }
  return { exe, stdlib, version };
}

async function walkStdlib(root: string, rel = '', out: { rel: string; size: number; mtime: number; link?: string }[] = []) {
  for (const e of await fs.readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (!rel && (STDLIB_SKIP.has(e.name) || e.name.startsWith('config-'))) continue;
    const p = path.join(root, r);
    if (e.isDirectory()) await walkStdlib(root, r, out);
    else if (e.isSymbolicLink()) out.push({ rel: r, size: 0, mtime: 0, link: await fs.readlink(p) });
    else if (e.isFile()) {
      const st = await fs.stat(p);
      out.push({ rel: r, size: st.size, mtime: Math.floor(st.mtimeMs) });
    }
  }
  return out;
}

/** Shared libraries (soname path as the loader asks for it → real file) needed by these ELF files. */
async function libClosure(files: string[]): Promise<Map<string, string>> {
  const libs = new Map<string, string>();
  for (let i = 0; i < files.length; i += 40) {
    const batch = files.slice(i, i + 40);
    const { stdout } = await runTool('ldd', batch).catch(() => ({ stdout: '' }));
    for (const line of stdout.split('\n')) {
      const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (m?.[1]) libs.set(m[1], await fs.realpath(m[1]));
    }
  }
  return libs;
}

async function ensureSysImage(dir: string, progress: (m: string) => void) {
  const py = await pythonFacts();
  const files = await walkStdlib(py.stdlib);
  const dynload = files.filter((f) => f.rel.startsWith('lib-dynload/') && f.rel.endsWith('.so')).map((f) => path.join(py.stdlib, f.rel));
  // The library closure (ldd on ~50 files, ≈1 s) only changes with the binaries: cache it by their stats.
  const exeStat = await fs.stat(py.exe);
  const binKey = sha256(
    py.exe,
    String(exeStat.size),
    String(exeStat.mtimeMs),
    files
      .filter((f) => f.rel.startsWith('lib-dynload/'))
      .map((f) => `${f.rel}:${f.size}:${f.mtime}`)
      .join('\n'),
  );
  const closureFile = path.join(dir, 'libs.json');
  let libs: Map<string, string>;
  const cachedLibs = await fs
    .readFile(closureFile, 'utf8')
    .then((t) => JSON.parse(t) as { key: string; libs: [string, string][] })
    .catch(() => null);
  if (cachedLibs && cachedLibs.key === binKey) libs = new Map(cachedLibs.libs);
  else {
    libs = await libClosure([py.exe, ...dynload]);
    await fs.writeFile(closureFile, JSON.stringify({ key: binKey, libs: [...libs] }));
  }
  const libStats = await Promise.all([...libs.values()].map(async (p) => `${p}:${(await fs.stat(p)).size}`));
  const exeSt = await fs.stat(py.exe);
  const hash = sha256(
    BUILDER_VERSION,
    py.exe,
    String(exeSt.size),
    String(Math.floor(exeSt.mtimeMs)),
    py.stdlib,
    files.map((f) => `${f.rel}:${f.size}:${f.mtime}:${f.link ?? ''}`).join('\n'),
    [...libs.keys()].join('\n'),
    libStats.join('\n'),
  ).slice(0, 16);
  const file = path.join(dir, `system-${hash}.img`);
  if (await exists(file)) return { file, hash, bytes: (await fs.stat(file)).size };

  progress(`system image: python ${py.version} + stdlib (${files.length} files) + ${libs.size} libraries`);
  const stage = path.join(dir, `.stage-${process.pid}`);
  await fs.rm(stage, { recursive: true, force: true });
  try {
    const stdRel = path.relative('/usr', py.stdlib);
    let total = 0;
    const made = new Set<string>();
    const mkdir = async (d: string) => {
      if (made.has(d)) return;
      await fs.mkdir(d, { recursive: true });
      made.add(d);
    };
    for (const f of files) {
      const dst = path.join(stage, stdRel, f.rel);
      await mkdir(path.dirname(dst));
      if (f.link) await fs.symlink(f.link, dst);
      else {
        await fs.copyFile(path.join(py.stdlib, f.rel), dst);
        total += f.size;
      }
    }
    await mkdir(path.join(stage, 'bin'));
    await fs.copyFile(py.exe, path.join(stage, 'bin', path.basename(py.exe)));
    await fs.chmod(path.join(stage, 'bin', path.basename(py.exe)), 0o755);
    for (const alias of ['python3', 'python']) {
      if (alias !== path.basename(py.exe)) await fs.symlink(path.basename(py.exe), path.join(stage, 'bin', alias));
    }
    total += exeSt.size;
    // Libraries go where the loader looks for them in the guest (/lib → /usr/lib, /lib64 → /usr/lib64).
    for (const [asked, real] of libs) {
      let rel = asked.replace(/^\/usr\//, '/').replace(/^\//, '');
      if (!rel.startsWith('lib')) rel = path.join('lib', path.basename(asked));
      const dst = path.join(stage, rel);
      await mkdir(path.dirname(dst));
      if (!(await exists(dst))) {
        await fs.copyFile(real, dst);
        total += (await fs.stat(real)).size;
      }
    }
    const sizeKiB = Math.ceil((total * 1.25) / 1024) + 16 * 1024;
    const inodes = files.length + libs.size + 2048;
    const tmp = `${file}.tmp-${process.pid}`;
    const mke2fs = (await which('mke2fs')) ?? 'mke2fs';
    await runTool(
      mke2fs,
      ['-q', '-F', '-t', 'ext2', '-b', '4096', '-m', '0', '-N', String(inodes), '-E', 'root_owner=0:0', '-L', 'wr-system', '-d', stage, tmp, `${sizeKiB}k`],
      {
        timeoutMs: 5 * 60_000,
      },
    );
    await fs.rename(tmp, file);
    return { file, hash, bytes: (await fs.stat(file)).size };
  } finally {
    await fs.rm(stage, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ templates

/**
 * Where VMs keep their RAM files: tmpfs (`/dev/shm`), so RAM is never written back to a disk. A /dev/shm with
 * less than 1 GiB free (containers often give it 64 MiB) is passed over for the temp directory.
 */
export async function ramDir(): Promise<string> {
  const override = env('WORLD_RUNTIME_MICROVM_RAM_DIR');
  if (override) return override;
  try {
    await fs.access('/dev/shm', fs.constants.W_OK);
    const st = await fs.statfs('/dev/shm');
    if (st.bavail * st.bsize >= 2 ** 30) return '/dev/shm';
  } catch {
    /* no usable /dev/shm */
  }
  return os.tmpdir();
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
    BUILDER_VERSION,
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

// ------------------------------------------------------------------ setup

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
