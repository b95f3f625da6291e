/**
 * @module
 * The system image of a microvm world: a read-only ext2 image of the host's python3, its standard library
 * and the shared libraries they load, mounted at /usr in the guest (a 9p share of the host would block
 * migration, so snapshots, in QEMU). Named by the hash of its inputs.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DriverError } from '../../base/errors.js';
import { exists, runTool, sha256, which } from './util.js';

/** Bump when the way the image is built changes, so caches are rebuilt. */
const IMAGE_VERSION = '3';

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

export async function ensureSysImage(dir: string, progress: (m: string) => void) {
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
    IMAGE_VERSION,
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
