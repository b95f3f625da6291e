/**
 * @module
 * A writer for the "newc" cpio format the Linux kernel unpacks as an initramfs. Uncompressed on purpose:
 * under TCG every decompressed byte costs guest instructions, and the archive is small.
 */

export type CpioEntry =
  | { kind: 'dir'; name: string; mode?: number }
  | { kind: 'file'; name: string; data: Uint8Array; mode?: number }
  | { kind: 'symlink'; name: string; target: string }
  | { kind: 'chardev'; name: string; major: number; minor: number; mode?: number };

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** Build a newc archive. Names are relative ("bin/busybox"); parents must come before children. */
export function buildCpio(entries: readonly CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const add = (name: string, mode: number, data: Uint8Array, rdev: [number, number] = [0, 0]) => {
    const nameBuf = Buffer.from(`${name}\0`, 'utf8');
    const header =
      '070701' +
      hex8(ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8((mode & 0o170000) === 0o040000 ? 2 : 1) +
      hex8(0) + // mtime: fixed, so equal inputs give equal archives
      hex8(data.length) +
      hex8(0) +
      hex8(0) +
      hex8(rdev[0]) +
      hex8(rdev[1]) +
      hex8(nameBuf.length) +
      hex8(0);
    chunks.push(Buffer.from(header, 'ascii'), nameBuf, Buffer.alloc(pad4(110 + nameBuf.length)));
    if (data.length) {
      chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength), Buffer.alloc(pad4(data.length)));
    }
  };
  for (const e of entries) {
    switch (e.kind) {
      case 'dir':
        add(e.name, 0o040000 | (e.mode ?? 0o755), new Uint8Array());
        break;
      case 'file':
        add(e.name, 0o100000 | (e.mode ?? 0o644), e.data);
        break;
      case 'symlink':
        add(e.name, 0o120000 | 0o777, Buffer.from(e.target, 'utf8'));
        break;
      case 'chardev':
        add(e.name, 0o020000 | (e.mode ?? 0o600), new Uint8Array(), [e.major, e.minor]);
        break;
    }
  }
  add('TRAILER!!!', 0, new Uint8Array());
  return Buffer.concat(chunks);
}
