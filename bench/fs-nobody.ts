/**
 * @module
 * Running part of the fs section as nobody: overlay needs isolation 'tree', which runs unprivileged, so as
 * root its rows are measured by a child process (`node fs.js --fs-child ...` under setpriv, on a home owned
 * by nobody) that prints each row as one JSON line. This module starts that child, collects its rows and
 * cleans up after it; the child's entry point is in fs.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** The unprivileged user the overlay rows run as when the bench is root. */
export const NOBODY = 65534;
const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--'];
/** The child's stdout lines that carry a row; anything else it prints is logged. */
export const ROW_LINE = 'fs-row ';
/** Longest the child may run (the full section's overlay rows take a few minutes). */
const CHILD_TIMEOUT_MS = 60 * 60_000;

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * Why nothing can run as nobody here, or undefined: setpriv (util-linux) must exist, and nobody must be
 * allowed the unprivileged user namespace isolation 'tree' makes (the check the runtime does, run as nobody).
 */
export function nobodyMissing(): string | undefined {
  if (!onPath('setpriv'))
    return "setpriv (util-linux) is not installed: as root the bench runs the overlay rows as nobody through it (isolation 'tree' runs unprivileged only)";
  const r = spawnSync('setpriv', [...AS_NOBODY, 'unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount', '--mount-proc', 'true'], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status ?? r.signal}`).trim().split('\n')[0];
    return `unprivileged user namespaces are not allowed for nobody (uid ${NOBODY}), which overlay needs (isolation 'tree'): setpriv … unshare --user --map-root-user --pid --mount failed: ${why}`;
  }
  return undefined;
}

/** SIGKILL each process of the child's runtimes (`--runtime <child pid>-…` on its command line); which. */
function killRuntimesOf(pid: number): string[] {
  const killed: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      const at = argv.indexOf('--runtime');
      if (at < 0 || !argv[at + 1]?.startsWith(`${pid}-`)) continue;
      process.kill(Number(name), 'SIGKILL');
      killed.push(`${name} ${argv.join(' ').trim()}`);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/**
 * `node <argv>` as nobody (setpriv) with `home` chowned to nobody and only PATH, HOME=home and LANG in its
 * environment: each `fs-row {json}` line of its stdout goes to `onRow` (JSON has no NaN: nulls come back as
 * NaN), any other line and its stderr to `log`. Resolves with how many rows came and, when it failed or left
 * processes of its runtimes behind (killed, and named here), why; '' when it ended well.
 */
export async function runAsNobody<R>(argv: string[], home: string, log: (l: string) => void, onRow: (r: R) => void): Promise<{ rows: number; why: string }> {
  chownSync(home, NOBODY, NOBODY);
  const child = spawn('setpriv', [...AS_NOBODY, process.execPath, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8' },
  });
  let rows = 0;
  const tail: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith(ROW_LINE)) return log(`  (child): ${line}`);
    onRow(JSON.parse(line.slice(ROW_LINE.length), (_k, v) => (v === null ? Number.NaN : v)) as R);
    rows++;
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    log(line);
    tail.push(line);
    if (tail.length > 5) tail.shift();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const end = await new Promise<string>((resolve) => {
    child.once('error', (err) => resolve(`could not start setpriv: ${err.message}`));
    child.once('close', (code, signal) => resolve(code === 0 ? '' : `exit ${signal ?? code}`));
  });
  clearTimeout(timer);
  const left = child.pid === undefined ? [] : killRuntimesOf(child.pid);
  if (left.length) log(`  killed ${left.length} process(es) of the child's runtime left after it: ${left.slice(0, 3).join('; ')}`);
  if (!end && !left.length) return { rows, why: '' };
  const how = end ? `the nobody child ended with ${end}${tail.length ? ` (${tail.at(-1)?.trim()})` : ''}` : 'the nobody child exited';
  return { rows, why: `${how}${left.length ? `; ${left.length} process(es) of its runtime outlived it (killed)` : ''}` };
}
