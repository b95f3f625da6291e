/**
 * @module
 * The guest kernel: Debian's stock `linux-image-6.1.*-amd64`, fetched with `apt-get download` and unpacked
 * with `dpkg-deb -x` (never installed on the host). Only the kernel image and the few modules the guest
 * needs (virtio-mmio, virtio-serial, virtio-blk, ext4 and their dependencies) are kept.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DriverError } from '../../base/errors.js';
import { exists, runTool, sha256, which } from './util.js';
import { env } from '../../base/config.js';

/** Modules the guest init loads; their dependencies are added in load order. */
export const WANTED_MODULES = ['virtio_mmio', 'virtio_console', 'virtio_blk', 'virtio_balloon', 'crc32c_generic', 'ext4'] as const;

export interface KernelAssets {
  /** Debian package the kernel came from, e.g. linux-image-6.1.0-56-amd64. */
  pkg: string;
  /** Kernel release, e.g. 6.1.0-56-amd64. */
  release: string;
  vmlinuz: string;
  /** Module files in load order. */
  modules: { name: string; file: string }[];
  /** Hash of the kernel image and the modules. */
  hash: string;
}

interface KernelMeta {
  pkg: string;
  release: string;
  modules: string[];
  hash: string;
}

/** The kernel package apt would install for `linux-image-amd64`, or the newest 6.1 one it knows. */
export async function resolveKernelPackage(): Promise<string> {
  const forced = env('WORLD_RUNTIME_MICROVM_KERNEL_PKG');
  if (forced) return forced;
  const aptCache = await which('apt-cache');
  if (!aptCache) throw new DriverError('apt-cache not found: the microvm driver fetches its guest kernel with apt (Debian)');
  try {
    const { stdout } = await runTool(aptCache, ['depends', 'linux-image-amd64'], { timeoutMs: 30_000 });
    const m = /Depends:\s*(linux-image-6\.1\.\S+-amd64)\s*$/m.exec(stdout);
    if (m?.[1]) return m[1];
  } catch {
    /* fall through to a search */
  }
  const { stdout } = await runTool(aptCache, ['search', '--names-only', '^linux-image-6\\.1\\.0-[0-9]+-amd64$'], { timeoutMs: 30_000 });
  const pkgs = stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((p) => /^linux-image-6\.1\.0-\d+-amd64$/.test(p))
    .sort((a, b) => Number(/-(\d+)-amd64$/.exec(b)?.[1]) - Number(/-(\d+)-amd64$/.exec(a)?.[1]));
  if (!pkgs[0]) {
    throw new DriverError('no linux-image-6.1.*-amd64 package known to apt: run `apt-get update` (Debian bookworm sources) and retry');
  }
  return pkgs[0];
}

/** Read `key=value` strings from a module's .modinfo section (good enough: they are NUL-separated). */
function modinfo(ko: Buffer, key: string): string | undefined {
  const needle = Buffer.from(`\0${key}=`);
  const i = ko.indexOf(needle);
  if (i < 0) return undefined;
  const start = i + needle.length;
  const end = ko.indexOf(0, start);
  return ko.subarray(start, end).toString('utf8');
}

async function walk(dir: string, out: string[] = []): Promise<string[]> {
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await walk(p, out);
    else out.push(p);
  }
  return out;
}

/** Wanted modules plus their dependencies, dependencies first. */
async function moduleClosure(modRoot: string): Promise<{ name: string; file: string }[]> {
  const index = new Map<string, string>();
  for (const f of await walk(modRoot)) {
    if (f.endsWith('.ko')) index.set(path.basename(f, '.ko').replace(/-/g, '_'), f);
  }
  const order: { name: string; file: string }[] = [];
  const seen = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = index.get(name);
    if (!file) throw new DriverError(`kernel module ${name} not found under ${modRoot} (compressed modules are not supported)`);
    const deps = modinfo(await fs.readFile(file), 'depends') ?? '';
    for (const d of deps.split(',').filter(Boolean)) await visit(d.replace(/-/g, '_'));
    order.push({ name, file });
  };
  for (const m of WANTED_MODULES) await visit(m);
  return order;
}

async function readMeta(dir: string): Promise<KernelAssets | null> {
  try {
    const meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as KernelMeta;
    const vmlinuz = path.join(dir, 'vmlinuz');
    if (!(await exists(vmlinuz))) return null;
    return {
      pkg: meta.pkg,
      release: meta.release,
      vmlinuz,
      modules: meta.modules.map((name) => ({ name, file: path.join(dir, 'modules', `${name}.ko`) })),
      hash: meta.hash,
    };
  } catch {
    return null;
  }
}

/** The newest kernel already unpacked in the cache, if any (used when apt cannot be asked). */
async function newestCached(root: string): Promise<KernelAssets | null> {
  let names: string[] = [];
  try {
    names = await fs.readdir(root);
  } catch {
    return null;
  }
  names.sort().reverse();
  for (const n of names) {
    const k = await readMeta(path.join(root, n));
    if (k) return k;
  }
  return null;
}

/**
 * Make sure the kernel is unpacked under `<root>/<pkg>/`. Downloads the .deb only when that package is not
 * cached yet (a newer `linux-image-amd64` dependency means a new package, so a rebuild).
 */
export async function ensureKernel(root: string, progress: (msg: string) => void): Promise<KernelAssets> {
  let pkg: string;
  // Asking apt costs 0.3–2 s; its answer only changes when the package lists do (apt-get update).
  const listsStamp = await fs
    .stat('/var/lib/apt/lists')
    .then((st) => `${st.mtimeMs}`)
    .catch(() => 'none');
  const resolvedFile = path.join(root, 'resolved.json');
  const resolved = await fs
    .readFile(resolvedFile, 'utf8')
    .then((t) => JSON.parse(t) as { stamp: string; pkg: string; forced?: string })
    .catch(() => null);
  try {
    const forced = env('WORLD_RUNTIME_MICROVM_KERNEL_PKG') ?? '';
    if (resolved && resolved.stamp === listsStamp && (resolved.forced ?? '') === forced) pkg = resolved.pkg;
    else {
      pkg = await resolveKernelPackage();
      await fs.mkdir(root, { recursive: true });
      await fs.writeFile(resolvedFile, JSON.stringify({ stamp: listsStamp, pkg, forced }));
    }
  } catch (e) {
    const cached = await newestCached(root);
    if (cached) {
      progress(`kernel: apt could not be asked (${(e as Error).message}); using cached ${cached.pkg}`);
      return cached;
    }
    throw e;
  }
  const dir = path.join(root, `${pkg}-${sha256(...WANTED_MODULES).slice(0, 8)}`);
  const cached = await readMeta(dir);
  if (cached) return cached;

  const work = path.join(root, `.work-${process.pid}`);
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  try {
    let deb = env('WORLD_RUNTIME_MICROVM_KERNEL_DEB');
    if (!deb) {
      const archived = (await fs.readdir('/var/cache/apt/archives').catch(() => [] as string[])).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
      if (archived) deb = path.join('/var/cache/apt/archives', archived);
    }
    if (!deb) {
      const aptGet = await which('apt-get');
      if (!aptGet) throw new DriverError('apt-get not found: cannot fetch the guest kernel package');
      progress(`kernel: apt-get download ${pkg}`);
      await runTool(aptGet, ['download', pkg], { cwd: work, timeoutMs: 10 * 60_000 });
      const f = (await fs.readdir(work)).find((n) => n.endsWith('.deb'));
      if (!f) throw new DriverError(`apt-get download ${pkg} produced no .deb`);
      deb = path.join(work, f);
    }
    progress(`kernel: unpacking ${path.basename(deb)}`);
    const x = path.join(work, 'x');
    await runTool('dpkg-deb', ['-x', deb, x], { timeoutMs: 5 * 60_000 });
    const boot = await fs.readdir(path.join(x, 'boot'));
    const vmlinuzName = boot.find((n) => n.startsWith('vmlinuz-'));
    if (!vmlinuzName) throw new DriverError(`${pkg} has no /boot/vmlinuz-*`);
    const release = vmlinuzName.slice('vmlinuz-'.length);
    const modRoot = path.join(x, 'lib', 'modules', release, 'kernel');
    const mods = await moduleClosure(modRoot);

    const stage = path.join(work, 'out');
    await fs.mkdir(path.join(stage, 'modules'), { recursive: true });
    await fs.copyFile(path.join(x, 'boot', vmlinuzName), path.join(stage, 'vmlinuz'));
    const parts: (string | Uint8Array)[] = [await fs.readFile(path.join(stage, 'vmlinuz'))];
    for (const m of mods) {
      await fs.copyFile(m.file, path.join(stage, 'modules', `${m.name}.ko`));
      parts.push(m.name, await fs.readFile(m.file));
    }
    const meta: KernelMeta = { pkg, release, modules: mods.map((m) => m.name), hash: sha256(...parts) };
    await fs.writeFile(path.join(stage, 'meta.json'), JSON.stringify(meta, null, 2));
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(stage, dir);
    const done = await readMeta(dir);
    if (!done) throw new DriverError(`kernel cache ${dir} is unreadable after unpacking`);
    progress(`kernel: ${pkg} ready (${mods.length} modules)`);
    return done;
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}
