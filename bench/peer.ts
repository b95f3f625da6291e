/**
 * @module
 * The `peer` section: gVisor checkpoint/restore (`runsc`, the mechanism Modal's sandboxes use to snapshot and
 * resume), on this machine, of a Python holding the same 10 / 200 MB of state as the process section's worlds,
 * beside the bare-fork floor of that state measured in the same run. Needs `apt-get install runsc` and root;
 * without them its rows are skipped with the reason. Everything runs under a temp dir: its own runsc state
 * root, a minimal rootfs (the host's /usr bound read-only inside the sandbox) and the checkpoint images.
 */
import { execFile, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Isolation } from '../src/index.js';
import { PY, forkFloor, spawnTimes, stateCode } from './process.js';
import { type Row, row, skipped, sleep, timed } from './stats.js';

const execFileP = promisify(execFile);

export interface PeerBenchOptions {
  quick: boolean;
  isolation: Isolation;
  log: (line: string) => void;
}

const SIZES = [10, 200] as const;
const GROUP = 'peer gVisor';
/** ptrace: gVisor's platform that needs nothing from the host (no /dev/kvm); no network at all. */
const FLAGS = ['--platform=ptrace', '--network=none'];

function findRunsc(): string | undefined {
  const dirs = ['/usr/bin', '/usr/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')];
  return dirs.map((d) => join(d, 'runsc')).find((p) => p.startsWith('/') && existsSync(p));
}

/** A rootfs holding only what Python needs: /usr (bound read-only by the config), the merged-usr links, /etc/passwd. */
function makeRootfs(dir: string): { rootfs: string; binds: string[] } {
  const rootfs = join(dir, 'rootfs');
  for (const sub of ['usr', 'etc', 'tmp', 'proc', 'dev', 'sys']) mkdirSync(join(rootfs, sub), { recursive: true });
  const binds = ['/usr'];
  for (const top of ['bin', 'lib', 'lib64', 'sbin']) {
    const host = `/${top}`;
    if (!existsSync(host)) continue;
    if (lstatSync(host).isSymbolicLink()) symlinkSync(readlinkSync(host), join(rootfs, top));
    else {
      mkdirSync(join(rootfs, top));
      binds.push(host);
    }
  }
  for (const f of ['passwd', 'group']) if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(rootfs, 'etc', f));
  return { rootfs, binds };
}

/** One OCI bundle per world size: runsc's own `spec`, with a Python that builds the state, says so, then waits. */
async function makeBundle(runsc: string, dir: string, rootfs: string, binds: string[], mb: number): Promise<string> {
  const bundle = join(dir, `bundle-${mb}`);
  mkdirSync(bundle);
  await execFileP(runsc, ['spec'], { cwd: bundle });
  const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = [PY, '-I', '-S', '-c', `${stateCode(mb)}\nimport time\nprint('ready', flush=True)\ntime.sleep(1e6)`];
  spec.root = { path: rootfs, readonly: true };
  for (const b of binds) spec.mounts.push({ destination: b, type: 'bind', source: b, options: ['rbind', 'ro'] });
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec, null, 1));
  return bundle;
}

class Peer {
  readonly rows: Row[] = [];
  readonly base: string[];
  readonly ids = new Set<string>();
  constructor(
    readonly runsc: string,
    readonly dir: string,
  ) {
    this.base = [`--root=${join(dir, 'state')}`, ...FLAGS];
  }

  cmd(args: string[], timeout = 120_000): Promise<string> {
    return execFileP(this.runsc, [...this.base, ...args], { timeout, maxBuffer: 1 << 22 }).then((r) => r.stdout);
  }

  /** A detached `runsc run|restore`, its container's stdout and stderr into `out` (stdio must be files: a restore needs the same kind). */
  detached(args: string[], out: string): Promise<void> {
    const fd = openSync(out, 'w');
    return new Promise<void>((resolve, reject) => {
      const c = spawn(this.runsc, [...this.base, ...args], { stdio: ['ignore', fd, fd] });
      c.once('error', reject);
      c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runsc ${args[0]} exited ${code}: ${tail(out)}`))));
    }).finally(() => closeSync(fd));
  }

  async status(id: string): Promise<string> {
    return String((JSON.parse(await this.cmd(['state', id])) as { status?: string }).status);
  }

  async remove(id: string): Promise<void> {
    await this.cmd(['kill', id, 'KILL']).catch(() => {});
    await this.cmd(['delete', '--force', id]).catch(() => {});
    this.ids.delete(id);
  }

  /** One sample: run (untimed, until the state is built), checkpoint (timed), restore from its image (timed). */
  async sample(
    bundle: string,
    mb: number,
    i: number,
    first: boolean,
  ): Promise<{ ckpt: number; restore: number; alive: boolean; imageMib: number; rss?: string }> {
    const id = `wr-${mb}-${i}`;
    const back = `${id}-r`;
    const out = join(this.dir, `${id}.out`);
    const image = join(this.dir, `${id}.img`);
    mkdirSync(image);
    try {
      this.ids.add(id);
      await this.detached(['run', '-detach', '--bundle', bundle, id], out);
      for (const t0 = performance.now(); !readFileSync(out, 'utf8').includes('ready'); await sleep(5)) {
        if (performance.now() - t0 > 120_000) throw new Error(`the ${mb} MB state was not built within 120 s: ${tail(out)}`);
      }
      const ckpt = (await timed(() => this.cmd(['checkpoint', `--image-path=${image}`, id]))).ms;
      this.ids.add(back);
      const restore = (
        await timed(() => this.detached(['restore', `--image-path=${image}`, '--bundle', bundle, '-detach', back], join(this.dir, `${back}.out`)))
      ).ms;
      const alive = (await this.status(back)) === 'running';
      // Once per size: the restored Python still holds its state (its RSS, seen from inside the sandbox).
      const rss =
        first && alive
          ? await this.cmd(['exec', back, PY, '-I', '-S', '-c', "print(next(l.split()[1] for l in open('/proc/1/status') if l.startswith('VmRSS')))"])
          : undefined;
      const { stdout } = await execFileP('du', ['-s', '--block-size=1', image]);
      return { ckpt, restore, alive, imageMib: Number(stdout.split('\t')[0]) / 2 ** 20, rss: rss?.trim() };
    } finally {
      await this.remove(back);
      await this.remove(id);
      rmSync(image, { recursive: true, force: true });
    }
  }

  async size(bundle: string, mb: number, n: number): Promise<void> {
    const s: Awaited<ReturnType<Peer['sample']>>[] = [];
    for (let i = 0; i < n; i++) s.push(await this.sample(bundle, mb, i, i === 0));
    const alive = s.filter((x) => x.alive).length;
    const img = s.map((x) => x.imageMib).sort((a, b) => a - b)[Math.floor(s.length / 2)] ?? Number.NaN;
    this.rows.push(
      row({
        group: GROUP,
        label: `runsc checkpoint, ${mb} MB Python (process-section state)`,
        samples: s.map((x) => x.ckpt),
        note: `wall time of \`runsc checkpoint --image-path DIR\` (the container stops); image ${img.toFixed(1)} MiB on disk (the state's bytes are one repeated value)`,
      }),
      row({
        group: GROUP,
        label: `runsc restore -detach of that image, ${mb} MB`,
        samples: s.map((x) => x.restore),
        note: `wall time until \`runsc restore -detach\` returned; then \`runsc state\`: running ${alive} of ${s.length}${s[0]?.rss ? `; the restored Python's VmRSS ${(Number(s[0].rss) / 1024).toFixed(0)} MiB (runsc exec)` : ''}`,
      }),
    );
  }

  /** Remove every container of our state root, end any runsc process still naming our temp dir, say what was left. */
  async cleanup(): Promise<string[]> {
    for (const id of [...this.ids]) await this.remove(id);
    const left: string[] = [];
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (!cmd.includes(this.dir)) continue;
        left.push(`${name} ${cmd.slice(0, 80)}`);
        process.kill(Number(name), 'SIGKILL');
      } catch {}
    }
    // Never recurse into a rootfs whose /usr is not an empty folder (a bind mount of the host's /usr).
    const usr = join(this.dir, 'rootfs', 'usr');
    const mounted = readFileSync('/proc/self/mounts', 'utf8').includes(this.dir);
    if (!mounted && (!existsSync(usr) || readdirSync(usr).length === 0)) rmSync(this.dir, { recursive: true, force: true });
    else left.push(`${this.dir} kept: something is mounted under it`);
    return left;
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 300);
  } catch {
    return '';
  }
}

/** gVisor checkpoint/restore rows, beside the fork floor of the same state; skipped rows with the reason when runsc cannot run. */
export async function benchPeer(o: PeerBenchOptions): Promise<{ rows: Row[] }> {
  const n = o.quick ? 3 : 6;
  const rows: Row[] = [];
  const py = await spawnTimes(PY, ['-I', '-S', '-c', 'pass'], o.quick ? 6 : 20);
  rows.push(row({ group: 'peer baseline', label: `cold start: ${PY} -I -S -c pass`, samples: py, note: 'spawned from node and waited for' }));
  for (const mb of SIZES) {
    const f = await forkFloor(PY, mb, o.quick ? 20 : 60, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    rows.push(
      row({
        group: 'peer baseline',
        label: `floor: os.fork() of a ${mb} MB Python → child answers`,
        samples: f.answer,
        note: `measured as in the process section; RSS ${f.rssMib.toFixed(0)} MiB`,
      }),
    );
  }
  const skipAll = (why: string) => rows.push(...SIZES.map((mb) => skipped(GROUP, `runsc checkpoint / restore, ${mb} MB`, why)));
  const runsc = findRunsc();
  if (!runsc) {
    skipAll('runsc is not installed (apt-get install runsc)');
    return { rows };
  }
  if (process.getuid?.() !== 0) {
    skipAll('not root: this bench runs runsc as root only (it does not try --rootless)');
    return { rows };
  }
  const version = (await execFileP(runsc, ['--version']).catch(() => ({ stdout: '?' }))).stdout.split('\n')[0];
  o.log(`  ${version}, ${FLAGS.join(' ')}`);
  const peer = new Peer(runsc, mkdtempSync(join(tmpdir(), 'wr-bench-runsc-')));
  try {
    const { rootfs, binds } = makeRootfs(peer.dir);
    for (const mb of SIZES) {
      try {
        const t = await timed(async () => peer.size(await makeBundle(runsc, peer.dir, rootfs, binds, mb), mb, n));
        o.log(`  ${mb} MB: ${(t.ms / 1000).toFixed(1)} s`);
      } catch (err) {
        rows.push(skipped(GROUP, `runsc checkpoint / restore, ${mb} MB`, `runsc failed here: ${(err as Error).message.split('\n')[0]}`));
      }
    }
  } finally {
    const left = await peer.cleanup();
    if (left.length) o.log(`  runsc left behind (ended now): ${left.join('; ')}`);
  }
  const first = peer.rows[0];
  if (first) first.note = `${first.note}; ${version}, ${FLAGS.join(' ')}`;
  return { rows: [...rows.slice(0, 3), ...peer.rows, ...rows.slice(3)] };
}
