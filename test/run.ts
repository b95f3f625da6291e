/**
 * @module
 * `npm test`: every test file, one after another, each under `node --test` (with its 300 s per-test
 * timeout), and a watchdog so that no stuck process can stall the run.
 *
 * A file's processes are those of the session it runs in (each file's `node --test` is spawned detached,
 * so it leads a session and a process group of its own) and every process whose environment carries the
 * file's token (`NODE_TEST_WATCHDOG`): that finds what the file started even after it left the session
 * (`setsid`) and was orphaned. A process started with an environment of its own (the process driver's
 * keepers) is not found that way; those end with the runtime that started them. The watchdog:
 *
 * - **Per-file budget** (`--file-budget=SECONDS`, default 420: above node:test's own per-test timeout, so a
 *   test that hangs is reported by node:test first): a file past it is ended, all its processes killed,
 *   and it is reported as STALLED.
 * - **Processes left after the end.** Once the test process `node --test` runs the file in has exited,
 *   anything else of the file still alive a few seconds later is killed and the file fails as "leaked":
 *   a process that holds the test process's output would keep `node --test` waiting for it for good. So is
 *   anything holding the runner's own pipes from the file after `node --test` exited.
 * - **Run budget** (`--run-budget=SECONDS`, default 840): past it the running file is ended as above and
 *   the files not yet run are listed as not run.
 *
 * The end of the output names every file that did not pass, and each file's time. Arguments other than the
 * flags are the test files to run instead of every dist/test/**\/*.test.js.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const POLL_MS = 500;
/** How long a file's processes may outlive its test process (or hold the runner's pipes) before they are ended. */
const GRACE_MS = 5000;
const NODE_TEST = ['--test', '--test-concurrency=1', '--test-timeout=300000'];
const TOKEN_VAR = 'NODE_TEST_WATCHDOG';

interface Outcome {
  file: string;
  ms: number;
  status: 'passed' | 'failed' | 'stalled' | 'leaked' | 'not run';
  detail?: string;
}

function seconds(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = arg ? Number(arg.split('=')[1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`test/run: --${name} must be a positive number of seconds, got ${arg}`);
  return value * 1000;
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...testFiles(p));
    else if (e.name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

// --- /proc ----------------------------------------------------------------------------------------

interface Proc {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // gone, or not ours to read
  }
}

/** Live processes other than the runner (zombies are dead already). */
function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const s = read(`/proc/${name}/stat`);
    if (!s) continue;
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z' || f[0] === 'X') continue;
    out.push({ pid: Number(name), ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]) });
  }
  return out;
}

/** Every process of a file: its session and group (led by `leader`), and those carrying its token. */
function processesOf(leader: number, token: string): Proc[] {
  const mark = `${TOKEN_VAR}=${token}\0`;
  return processes().filter((p) => p.sid === leader || p.pgid === leader || (read(`/proc/${p.pid}/environ`) ?? '').includes(mark));
}

/** What a process's stdout and stderr are (`pipe:[inode]`, `socket:[inode]`). */
function outputsOf(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of [1, 2]) {
    try {
      out.add(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // gone
    }
  }
  return out;
}

/** Live processes holding any of `ends` (from outputsOf) open. */
function holders(ends: Set<string>): Proc[] {
  return processes().filter((p) => {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      return false;
    }
    return fds.some((fd) => {
      try {
        return ends.has(readlinkSync(`/proc/${p.pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
  });
}

function unique(procs: Proc[]): Proc[] {
  return [...new Map(procs.map((p) => [p.pid, p])).values()];
}

function show(procs: Proc[]): string {
  return procs.map((p) => `${p.pid} ${(read(`/proc/${p.pid}/cmdline`) ?? '?').replace(/\0/g, ' ').trim().slice(0, 160)}`).join('; ');
}

function kill(procs: Proc[]): void {
  for (const { pid } of procs) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// --- one file -------------------------------------------------------------------------------------

/** The file running now (its session leader and token), for a signal to the runner. */
let running: { leader: number; token: string } | undefined;

/** Run one test file under the watchdog; `deadline` is the run's (epoch ms). */
function runFile(file: string, budgetMs: number, deadline: number): Promise<Outcome> {
  const t0 = Date.now();
  const token = randomBytes(8).toString('hex');
  const child = spawn(process.execPath, [...NODE_TEST, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, [TOKEN_VAR]: token },
  });
  const leader = child.pid as number;
  running = { leader, token };
  // node --test's ends of the runner's pipes: whatever else holds them after it exited was left behind.
  const ours = outputsOf(leader);
  const rel = relative(process.cwd(), file);
  const leaks: string[] = [];
  let open = 2;
  let exitCode: number | undefined;
  let exitedAt = 0;
  let testProcSeenAt = t0;
  child.stdout?.pipe(process.stdout, { end: false });
  child.stderr?.pipe(process.stderr, { end: false });

  return new Promise<Outcome>((resolve) => {
    let finished = false;
    const finish = (status: Outcome['status'], detail?: string) => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      running = undefined;
      resolve({ file, ms: Date.now() - t0, status, detail });
    };
    const end = (procs: Proc[], why: string) => {
      if (procs.length === 0) return;
      const seen = show(procs);
      leaks.push(seen);
      kill(procs);
      process.stderr.write(`\ntest/run: ${rel} ${why} (killed): ${seen}\n`);
    };
    const settle = async () => {
      if (open > 0 || exitCode === undefined || finished) return;
      end(await lingering(leader, token), 'left processes running after it ended');
      if (leaks.length > 0) finish('leaked', `left processes behind (killed): ${leaks.join('; ')}`);
      else finish(exitCode === 0 ? 'passed' : 'failed', exitCode === 0 ? undefined : `node --test exited with ${exitCode}`);
    };
    for (const stream of [child.stdout, child.stderr]) {
      stream?.once('close', () => {
        open--;
        void settle();
      });
    }
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? 128 : 1);
      exitedAt = Date.now();
      void settle();
    });

    const timer = setInterval(() => {
      const now = Date.now();
      if (now - t0 > budgetMs || now > deadline) {
        const why = now > deadline ? 'the run budget ran out while it ran' : `it ran past its budget of ${budgetMs / 1000} s`;
        const ended = unique([...processesOf(leader, token), ...holders(ours)]);
        const seen = show(ended);
        kill(ended);
        process.stderr.write(`\ntest/run: STALLED ${rel}: ${why}; ended ${ended.length} process(es): ${seen}\n`);
        finish('stalled', why);
        return;
      }
      if (exitCode === undefined) {
        // node --test ends once the test process it runs the file in, and that process's output, are done:
        // still running a while after that process exited, it waits on output something left behind holds.
        const mine = processesOf(leader, token);
        if (mine.some((p) => p.ppid === leader)) testProcSeenAt = now;
        else if (now - testProcSeenAt > GRACE_MS) end(mine.filter((p) => p.pid !== leader), 'left processes running after its tests ended');
      } else if (open > 0 && now - exitedAt > GRACE_MS) {
        end(holders(ours), 'left processes holding its output after it ended');
      }
    }, POLL_MS);
  });
}

/** What of a file is alive after it ended, given a moment for processes already on their way out. */
async function lingering(leader: number, token: string): Promise<Proc[]> {
  for (let i = 0; i < 20; i++) {
    if (processesOf(leader, token).length === 0) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return processesOf(leader, token);
}

// --- the run --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const budgetMs = seconds('file-budget', 420);
  const deadline = Date.now() + seconds('run-budget', 840);
  const named = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const files = named.length > 0 ? named : testFiles(dirname(fileURLToPath(import.meta.url)));
  // Interrupted: end the file running now (it runs detached, so the terminal's signal does not reach it).
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      if (running) kill(processesOf(running.leader, running.token));
      process.exit(130);
    });
  }
  const t0 = Date.now();
  const outcomes: Outcome[] = [];
  for (const file of files) {
    if (Date.now() > deadline) outcomes.push({ file, ms: 0, status: 'not run', detail: 'the run budget ran out first' });
    else outcomes.push(await runFile(file, budgetMs, deadline));
  }
  const rel = (f: string) => relative(process.cwd(), f);
  process.stdout.write(`\n# test/run: ${files.length} files in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  for (const o of outcomes) process.stdout.write(`#   ${o.status.padEnd(7)} ${(o.ms / 1000).toFixed(1).padStart(6)} s  ${rel(o.file)}${o.detail ? `  (${o.detail})` : ''}\n`);
  const bad = outcomes.filter((o) => o.status !== 'passed');
  if (bad.length > 0) {
    process.stdout.write(`# test/run: ${bad.length} file(s) did not pass: ${bad.map((o) => `${rel(o.file)} (${o.status})`).join(', ')}\n`);
    process.exitCode = 1;
  }
}

await main();
