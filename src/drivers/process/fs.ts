/**
 * @module
 * Where worlds' files live (docs/process-driver.md, "Files"): the backend of the world filesystem layer
 * (agent/layers.py) chosen for this home, and for btrfs the filesystem itself.
 *
 * - `btrfs`: the home is on btrfs, or (as root) a sparse image under the home, formatted with btrfs-progs
 *   and loop-mounted at `<home>/fs`, with simple quotas for per-world disk limits. Constant-time
 *   snapshots and branches.
 * - `overlay`: overlayfs stacks inside the tree's user namespace (isolation `tree`; needs no root).
 * - `copy`: plain folders copied on every snapshot and branch (`cp -a`): the last resort, said loudly.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statfsSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DriverError, IsolationUnavailableError } from '../../base/errors.js';
import type { FsBackend } from '../../base/types.js';
import type { IsolationChoice } from './isolation.js';

export type FsKind = Exclude<FsBackend, 'auto'>;

export interface FsChoice {
  kind: FsKind;
  /** Folder holding every runtime's layer folders (`<base>/<runtime id>`). */
  base: string;
  /** The sysfs folder of btrfs qgroups, when per-layer disk limits work. */
  quotas: string | null;
  /** The loop-mounted image, when the runtime made one. */
  image: { path: string; mount: string; sizeBytes: number } | null;
  reason: string;
}

const BTRFS_MAGIC = 0x9123683e;
/** The image is sparse: it takes space only as worlds write, up to this share of the disk's free space. */
const IMAGE_SHARE_OF_FREE = 0.5;
const IMAGE_MIN_BYTES = 2 ** 31;
const IMAGE_MAX_BYTES = 2 ** 40;

function onBtrfs(path: string): boolean {
  try {
    return statfsSync(path).type === BTRFS_MAGIC;
  } catch {
    return false;
  }
}

function mounted(path: string): boolean {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .some((l) => l.split(' ')[1] === path);
  } catch {
    return false;
  }
}

function have(cmd: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(join(d, cmd)));
}

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
}

/** Mount (making it the first time) the home's btrfs image; undefined when this machine cannot. */
function btrfsImage(home: string, warn: (m: string) => void): FsChoice['image'] | undefined {
  const path = join(home, 'fs.img');
  const mount = join(home, 'fs');
  if (mounted(mount)) return { path, mount, sizeBytes: existsSync(path) ? statSync(path).size : 0 };
  if (!have('mkfs.btrfs')) return undefined;
  try {
    mkdirSync(mount, { recursive: true, mode: 0o700 });
    if (!existsSync(path)) {
      const st = statfsSync(home);
      const free = st.bavail * st.bsize;
      const size = Math.min(IMAGE_MAX_BYTES, Math.max(IMAGE_MIN_BYTES, Math.floor(free * IMAGE_SHARE_OF_FREE)));
      if (size > free) throw new Error(`only ${free} bytes free under ${home}`);
      writeFileSync(path, '', { mode: 0o600 });
      truncateSync(path, size);
      run('mkfs.btrfs', ['-q', '-f', '-L', 'world-runtime', path]);
    }
    run('mount', ['-o', 'loop,noatime,user_subvol_rm_allowed', path, mount]);
    return { path, mount, sizeBytes: statSync(path).size };
  } catch (err) {
    warn(`world-runtime: could not set up the btrfs image ${path}: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

function quotasOf(python: string, agentDir: string, mount: string): string | null {
  try {
    return (JSON.parse(run(python, ['-I', '-S', join(agentDir, 'fsctl.py'), 'info', mount])) as { quotas: string | null }).quotas;
  } catch {
    return null;
  }
}

/**
 * Pick the backend for `home`. `auto` prefers btrfs (the home's own, or as root an image), then overlay
 * (isolation `tree` only: overlayfs cannot be id-mapped per world), then copy with a warning.
 */
export function chooseFs(wanted: FsBackend, isolation: IsolationChoice, home: string, python: string, agentDir: string, warn: (m: string) => void): FsChoice {
  const root = process.getuid?.() === 0;
  const btrfs = (): FsChoice | undefined => {
    if (onBtrfs(home)) {
      const base = join(home, 'layers');
      return { kind: 'btrfs', base, quotas: root ? quotasOf(python, agentDir, home) : null, image: null, reason: `${home} is on btrfs` };
    }
    if (!root) return undefined;
    const image = btrfsImage(home, warn);
    if (!image) return undefined;
    return {
      kind: 'btrfs',
      base: join(image.mount, 'layers'),
      quotas: quotasOf(python, agentDir, image.mount),
      image,
      reason: `btrfs image ${image.path} mounted at ${image.mount}`,
    };
  };
  const copy = (why: string): FsChoice => ({ kind: 'copy', base: join(home, 'layers'), quotas: null, image: null, reason: why });
  if (wanted === 'btrfs') {
    const c = btrfs();
    if (!c)
      throw new IsolationUnavailableError(
        `fs 'btrfs' requested but ${home} is not on btrfs and ${root ? 'no image could be made (install btrfs-progs)' : 'making an image needs root'}`,
      );
    return c;
  }
  if (wanted === 'overlay') {
    if (isolation.kind !== 'tree') throw new IsolationUnavailableError(`fs 'overlay' works with isolation 'tree' only (this runtime uses '${isolation.kind}')`);
    return { kind: 'overlay', base: join(home, 'layers'), quotas: null, image: null, reason: 'overlayfs in the tree user namespace (requested)' };
  }
  if (wanted === 'copy') return copy('copies (requested)');
  const c = btrfs();
  if (c) return c;
  if (isolation.kind === 'tree')
    return { kind: 'overlay', base: join(home, 'layers'), quotas: null, image: null, reason: 'overlayfs in the tree user namespace' };
  const why = root ? 'btrfs is unavailable (install btrfs-progs for constant-time branching)' : `${home} is not on btrfs`;
  warn(`world-runtime: WARNING ${why}; a world's files are COPIED on every snapshot and branch (time and space grow with its files).`);
  return copy(why);
}

/** Unmount an image this runtime mounted (best effort: a busy mount is detached lazily). */
export function releaseFs(choice: FsChoice): void {
  if (!choice.image) return;
  try {
    run('umount', ['-l', choice.image.mount]);
  } catch (err) {
    throw new DriverError(`could not unmount ${choice.image.mount}: ${(err as Error).message}`);
  }
}
