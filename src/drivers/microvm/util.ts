/**
 * @module
 * Small host-side helpers of the microvm driver: running tools, hashing, sparse copies, a directory lock.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs, constants as fsc } from 'node:fs';
import path from 'node:path';
import { DriverError } from '../../base/errors.js';

export interface RunToolResult {
  stdout: string;
  stderr: string;
}

/** Run a tool to completion; rejects with its stderr on a non-zero exit. */
export function runTool(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; maxBuffer?: number } = {},
): Promise<RunToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 120_000,
        env: opts.env ?? process.env,
        maxBuffer: opts.maxBuffer ?? 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (err) {
          const why = (stderr || err.message).trim().split('\n').slice(-5).join('\n');
          reject(new DriverError(`${path.basename(file)} ${args.slice(0, 3).join(' ')} failed: ${why}`, err));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

/** Find an executable on PATH (plus the sbin directories, which a non-login PATH may lack). */
export async function which(name: string): Promise<string | null> {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']);
  for (const dir of dirs) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      await fs.access(p, fsc.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

export function sha256(...parts: (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex');
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Copy a (sparse) RAM file keeping its holes: GNU cp finds the data extents with SEEK_DATA/SEEK_HOLE and
 * copies only those, so a 512 MiB guest that touched 60 MiB costs 60 MiB of copying and of tmpfs.
 */
export function sparseCopy(src: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['--sparse=auto', '--no-preserve=all', '--', src, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => reject(new DriverError(`cannot copy ${src}: ${e.message}`, e)));
    child.on('exit', (code) => {
      if (code === 0) resolve();
      else reject(new DriverError(`cannot copy ${src} to ${dst}: ${err.trim() || `cp exited ${code}`}`));
    });
  });
}

/** Bytes a file really occupies (allocated blocks), which for a sparse RAM file is far below its size. */
export async function allocatedBytes(p: string): Promise<number> {
  try {
    const st = await fs.stat(p);
    return st.blocks * 512;
  } catch {
    return 0;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A cross-process lock on a directory (mkdir is atomic). A lock whose holder died is taken over.
 * Returns the release function.
 */
export async function lockDir(dir: string, what: string, timeoutMs = 15 * 60_000): Promise<() => Promise<void>> {
  const lock = path.join(dir, '.lock');
  const deadline = Date.now() + timeoutMs;
  await fs.mkdir(dir, { recursive: true });
  for (;;) {
    try {
      await fs.mkdir(lock);
      await fs.writeFile(path.join(lock, 'pid'), String(process.pid));
      return async () => {
        await fs.rm(lock, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    try {
      holder = Number((await fs.readFile(path.join(lock, 'pid'), 'utf8')).trim());
    } catch {
      /* being written or removed */
    }
    if (Number.isInteger(holder) && holder > 0 && !pidAlive(holder)) {
      await fs.rm(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new DriverError(`timed out waiting for the ${what} lock ${lock} (held by pid ${holder})`);
    await sleep(100);
  }
}

/** Wait for `p`, but at most `ms` (the timer keeps the event loop alive meanwhile, and is cleared after). */
export async function waitAtMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Keep the last `max` characters of a growing log. */
export class Tail {
  private text = '';
  constructor(private readonly max = 4096) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    return this.text.slice(-this.max);
  }
}
