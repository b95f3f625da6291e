/**
 * @module
 * The initramfs of a microvm world: static busybox, the kernel modules the guest needs, `agent/guest/init`,
 * `agent/guest/agent.py` and the agent modules it shares with the process driver's agent. Named by the hash
 * of its inputs; written by this package's own cpio writer (cpio.ts).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DriverError } from '../../base/errors.js';
import { buildCpio, type CpioEntry } from './cpio.js';
import type { KernelAssets } from './kernel.js';
import { exists, runTool, sha256, which } from './util.js';

/** Bump when the way the initramfs is built changes, so caches are rebuilt. */
const INITRAMFS_VERSION = '3';

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

export async function ensureInitramfs(dir: string, kernel: KernelAssets, progress: (m: string) => void) {
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
  const hash = sha256(INITRAMFS_VERSION, busybox, String(bbStat.size), String(bbStat.mtimeMs), init, agent, worldexec, protocol, kernel.hash).slice(0, 16);
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
