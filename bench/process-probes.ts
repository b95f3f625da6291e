/**
 * @module
 * Measurements of the host that the process-driver benchmarks (./process.ts) need beside the driver's own:
 * cold process starts, the bare os.fork() floor, and the agent processes and their memory as /proc shows them.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MEM_CODE, stateCode } from './process-plan.js';

const execFileP = promisify(execFile);

/** Wall time of `n` cold process starts, each spawned and waited for. */
export async function spawnTimes(cmd: string, args: string[], n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const c = spawn(cmd, args, { stdio: 'ignore' });
      c.once('error', reject);
      c.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}`))));
    });
    out.push(performance.now() - t0);
  }
  return out;
}

export function pathPython(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, 'python3');
    if (dir && existsSync(p)) return p;
  }
  return 'not found';
}

/**
 * The floor: in a plain Python holding `mb` MB of the same state (gc.freeze() first, as the agent does),
 * time `os.fork()` until the child has written one byte to a pipe; and the fork() call alone.
 */
export async function forkFloor(
  py: string,
  mb: number,
  n: number,
  env: Record<string, string>,
): Promise<{ answer: number[]; forkP50: number; rssMib: number; hugeMib: number }> {
  const script = `
import gc, json, os, sys, time
${stateCode(mb)}
gc.freeze()
answer, call = [], []
for i in range(${n}):
    r, w = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.write(w, b'x')
        os._exit(0)
    t1 = time.perf_counter()
    os.read(r, 1)
    t2 = time.perf_counter()
    os.waitpid(pid, 0)
    os.close(r); os.close(w)
    answer.append((t2 - t0) * 1000); call.append((t1 - t0) * 1000)
    time.sleep(0.005)
rss, huge = ${MEM_CODE}
print(json.dumps({"answer": answer, "call": call, "rss": rss / 1024, "huge": huge / 1024}))
`;
  const { stdout } = await execFileP(py, ['-I', '-S', '-c', script], { env: { PATH: '/usr/bin:/bin', ...env }, maxBuffer: 1 << 22 });
  const r = JSON.parse(stdout) as { answer: number[]; call: number[]; rss: number; huge: number };
  const call = [...r.call].sort((a, b) => a - b);
  return { answer: r.answer, forkP50: call[Math.floor(call.length / 2)] as number, rssMib: r.rss, hugeMib: r.huge };
}

export interface HostProc {
  pid: number;
  ppid: number;
  /** Its pid inside its own (innermost) pid namespace: what os.getpid() says in the world. */
  nspid: number;
  pidns: string;
}

/** Agent processes (world, snapshot, spare, keeper) descending from `root`, as the host sees them. */
export function scanAgents(root: number): HostProc[] {
  const ppid = new Map<number, number>();
  const agents: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      ppid.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      // A Python running the agent: a world forked in a fork tree still has its keeper's argv.
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (/python[\d.]*$/.test(argv[0] ?? '') && argv.some((a) => a.endsWith('agent.py') || a.endsWith('keeper.py'))) agents.push(pid);
    } catch {} // gone meanwhile
  }
  const descends = (pid: number) => {
    for (let p = ppid.get(pid), hops = 0; p !== undefined && hops < 4096; p = ppid.get(p), hops++) if (p === root) return true;
    return false;
  };
  const out: HostProc[] = [];
  for (const pid of agents.filter(descends)) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [String(pid)];
      out.push({ pid, ppid: ppid.get(pid) ?? 0, nspid: Number(ns[ns.length - 1]), pidns: readlinkSync(`/proc/${pid}/ns/pid`) });
    } catch {}
  }
  return out;
}

/** PSS and USS (private clean + dirty) of one process, from /proc/<pid>/smaps_rollup, in kB. */
export function smaps(pid: number): { pssKb: number; ussKb: number } {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { pssKb: field('Pss'), ussKb: field('Private_Clean') + field('Private_Dirty') };
}
