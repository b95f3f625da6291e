/**
 * @module
 * The per-driver run directory on tmpfs (`/dev/shm/world-runtime-microvm/<pid>-<random>/`): RAM files of
 * worlds and snapshots, agent sockets, consoles, QEMU pid files. Nothing in it may outlive the driver:
 *
 * - every QEMU runs under `setpriv --pdeathsig KILL`, so it dies with the process that started it;
 * - a supervisor (`/bin/sh`, detached into its own session) holds a pipe from this process; when the pipe
 *   closes (close(), exit, or SIGKILL of this process) it kills the QEMUs named in the pid files and
 *   removes the directory;
 * - on start, directories left by dead owners (e.g. the supervisor itself was killed too) are swept.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { env } from '../../base/config.js';
import { pidAlive, waitAtMost } from './util.js';

const SUPERVISOR = `
trap '' INT HUP TERM PIPE
d="$1"
while read -r _line; do :; done
for f in "$d"/*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f" 2>/dev/null)
  [ -n "$p" ] || continue
  if tr '\\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$d"; then kill -9 "$p" 2>/dev/null; fi
done
rm -rf -- "$d"
`;

/** Kill the QEMUs of a run directory (checking each pid's command line names the directory). */
async function killListed(dir: string): Promise<void> {
  for (const f of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number((await fs.readFile(path.join(dir, f), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

export class RunDir {
  private constructor(
    readonly path: string,
    private readonly supervisorIn: Writable | null,
    readonly supervisorPid: number,
    private readonly supervisorExited: Promise<void>,
  ) {}

  static async base(): Promise<string> {
    return path.join(await ramDir(), 'world-runtime-microvm');
  }

  /** Remove run directories whose owner process is dead. Returns how many were swept. */
  static async sweep(): Promise<number> {
    const base = await RunDir.base();
    let n = 0;
    for (const name of await fs.readdir(base).catch(() => [] as string[])) {
      const owner = Number(name.split('-')[0]);
      if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || pidAlive(owner)) continue;
      const dir = path.join(base, name);
      await killListed(dir);
      await fs.rm(dir, { recursive: true, force: true });
      n++;
    }
    return n;
  }

  static async create(): Promise<RunDir> {
    await RunDir.sweep();
    const base = await RunDir.base();
    await fs.mkdir(base, { recursive: true, mode: 0o700 });
    const dir = path.join(base, `${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.mkdir(dir, { mode: 0o700 });
    let stdin: Writable | null = null;
    let pid = 0;
    let exited: Promise<void> = Promise.resolve();
    try {
      const sup = spawn('/bin/sh', ['-c', SUPERVISOR, 'world-runtime-microvm-supervisor', dir], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      sup.on('error', () => {});
      exited = new Promise((r) => {
        sup.once('exit', () => r());
        sup.once('error', () => r());
      });
      sup.stdin.on('error', () => {});
      sup.unref();
      (sup.stdin as unknown as { unref?: () => void }).unref?.();
      stdin = sup.stdin;
      pid = sup.pid ?? 0;
    } catch {
      /* no supervisor: PDEATHSIG and the next start's sweep still clean up */
    }
    return new RunDir(dir, stdin, pid, exited);
  }

  file(name: string): string {
    return path.join(this.path, name);
  }

  /** Kill what is left, remove the directory, release the supervisor. */
  async close(): Promise<void> {
    await killListed(this.path);
    await fs.rm(this.path, { recursive: true, force: true });
    this.supervisorIn?.end();
    // Wait (briefly) for the supervisor to go, so no process of ours outlives close().
    await waitAtMost(this.supervisorExited, 2000);
  }
}

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
