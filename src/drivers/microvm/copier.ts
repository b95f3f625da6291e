/**
 * @module
 * Fast copies of sparse RAM files. A guest's RAM file is mostly holes; only the pages the guest touched hold
 * data. `cp --sparse=auto` finds them but then copies through user space (≈1 GB/s here); copy_file_range
 * per data extent (found with SEEK_DATA/SEEK_HOLE) stays in the kernel (≈3.5 GB/s on tmpfs). Node exposes
 * neither, so a small long-lived helper on the host's python3 does the copies, several at once in threads.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { DriverError } from '../../base/errors.js';
import { DEFAULT_MAX_LINE_BYTES, JsonLineReader } from '../lines.js';
import { sparseCopy, waitAtMost } from './util.js';

const HELPER = String.raw`
import json, os, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
lock = threading.Lock()
def reply(obj):
    data = (json.dumps(obj) + "\n").encode()
    with lock:
        os.write(1, data)
def copy(req):
    t0 = time.perf_counter()
    inplace = req.get("inplace", False)
    # in place: into a file QEMU already maps (fresh, all holes), keeping its inode; else whole-or-nothing
    tmp = req["dst"] if inplace else req["dst"] + ".part"
    try:
        fi = os.open(req["src"], os.O_RDONLY)
        try:
            size = os.fstat(fi).st_size
            fo = os.open(tmp, os.O_RDWR) if inplace else os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                if os.fstat(fo).st_size != size:
                    if inplace:
                        raise OSError("%s is %d bytes, the snapshot RAM %d" % (tmp, os.fstat(fo).st_size, size))
                    os.ftruncate(fo, size)
                off = 0
                n = 0
                cross = False
                while off < size:
                    try:
                        d = os.lseek(fi, off, os.SEEK_DATA)
                    except OSError:
                        break
                    h = os.lseek(fi, d, os.SEEK_HOLE)
                    o = d
                    while o < h:
                        if cross:
                            os.lseek(fo, o, 0)
                            c = os.sendfile(fo, fi, o, h - o)
                        else:
                            try:
                                c = os.copy_file_range(fi, fo, h - o, o, o)
                            except OSError as e:
                                if e.errno not in (18, 22, 38, 95):  # EXDEV, EINVAL, ENOSYS, EOPNOTSUPP
                                    raise
                                cross = True
                                continue
                        if c <= 0:
                            raise OSError("copy_file_range made no progress")
                        o += c
                        n += c
                    off = h
            finally:
                os.close(fo)
        finally:
            os.close(fi)
        if not inplace:
            os.rename(tmp, req["dst"])
        reply({"id": req["id"], "ok": True, "bytes": n, "ms": (time.perf_counter() - t0) * 1000})
    except Exception as e:
        if not inplace:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        reply({"id": req["id"], "ok": False, "error": "%s: %s" % (type(e).__name__, e)})
pool = ThreadPoolExecutor(4)
for line in sys.stdin:
    pool.submit(copy, json.loads(line))
pool.shutdown(wait=True)
`;

type Pending = { resolve: (v: { bytes: number; ms: number }) => void; reject: (e: Error) => void };

export class Copier {
  private child: ChildProcessByStdio<Writable, Readable, null> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private broken = false;

  constructor(private readonly python = '/usr/bin/python3') {}

  private ensure(): ChildProcessByStdio<Writable, Readable, null> | null {
    if (this.child || this.broken) return this.child;
    const child = spawn(this.python, ['-I', '-S', '-u', '-c', HELPER], { stdio: ['pipe', 'pipe', 'ignore'] });
    let why = 'the RAM copy helper exited';
    const gone = () => {
      if (this.child === child) this.child = null;
      for (const p of this.pending.values()) p.reject(new DriverError(why));
      this.pending.clear();
    };
    child.on('error', (e) => {
      this.broken = true;
      why = `the RAM copy helper could not run: ${e.message}`;
      gone();
    });
    child.stdin.on('error', () => {});
    // What the helper says is checked like any peer's: a line it should never send (not JSON, a line past the
    // limit) ends it, and 'exit' fails the copies still pending with why.
    const broke = (reason: string) => {
      why = `the RAM copy helper ${reason}; it was ended`;
      child.kill();
    };
    new JsonLineReader(child.stdout, {
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      onOverflow: (err) => broke(`sent ${err.message}`),
      onBadLine: (text) => broke(`sent a line that is not a JSON object: ${JSON.stringify(text.slice(0, 100))}`),
      onLine: (msg) => {
        const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
        if (!p) return;
        this.pending.delete(msg.id as number);
        if (this.pending.size === 0) this.hold(false);
        const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
        if (msg.ok === true) p.resolve({ bytes: n(msg.bytes), ms: n(msg.ms) });
        else p.reject(new DriverError(`RAM file copy failed: ${typeof msg.error === 'string' ? msg.error : 'the helper gave no reason'}`));
      },
    });
    child.on('exit', gone);
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    this.child = child;
    return child;
  }

  /**
   * Copy `src` to `dst` keeping holes; `dst` appears whole or not at all. `inPlace`: write into the existing
   * `dst` (a fresh RAM file QEMU has mapped, all holes, same size) without replacing it.
   */
  copy(src: string, dst: string, inPlace = false): Promise<{ bytes: number; ms: number }> {
    const child = this.ensure();
    if (!child) {
      if (inPlace) return Promise.reject(new DriverError('in-place RAM copies need /usr/bin/python3'));
      const t0 = performance.now();
      return sparseCopy(src, dst).then(() => ({ bytes: 0, ms: performance.now() - t0 }));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.hold(true);
      this.pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, src, dst, inplace: inPlace })}\n`);
    });
  }

  /** Keep the event loop alive only while copies are pending (an idle helper must not hold the process). */
  private hold(on: boolean): void {
    const c = this.child as unknown as { ref(): void; unref(): void; stdout: { ref?: () => void; unref?: () => void } } | null;
    if (!c) return;
    if (on) {
      c.ref();
      c.stdout.ref?.();
    } else {
      c.unref();
      c.stdout.unref?.();
    }
  }

  /** End the helper: its input closed, it finishes and exits; one that has not within ≈2 s is killed. */
  async close(): Promise<void> {
    const child = this.child;
    this.child = null;
    this.broken = true;
    if (!child) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin.end();
    await waitAtMost(gone, 2000);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
