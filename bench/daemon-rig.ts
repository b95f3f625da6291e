/**
 * @module
 * What the benches that drive a daemon share: starting one (`serve --listen 127.0.0.1:0`, waiting for its
 * "daemon ready" line) and stopping it, and the create → snapshot → branch(3) round the remote-driver rows
 * time on any runtime.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorldRuntime } from '../src/index.js';
import { sleep } from './stats.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');

export interface Daemon {
  proc: ChildProcess;
  /** http://127.0.0.1:PORT */
  url: string;
  token: string;
}

/** `world-runtime serve` on `home` with a loopback TCP listener, plus `args`; resolves once it is ready. */
export async function startDaemon(home: string, args: readonly string[] = [], readyWithinMs = 30_000): Promise<Daemon> {
  const proc = spawn(process.execPath, [MAIN, 'serve', '--home', home, '--listen', '127.0.0.1:0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const t0 = Date.now();
  while (!/daemon ready/.test(out)) {
    if (proc.exitCode !== null) throw new Error(`the daemon exited:\n${out}`);
    if (Date.now() - t0 > readyWithinMs) throw new Error(`the daemon did not start:\n${out}`);
    await sleep(25);
  }
  const url = /tcp (http:\/\/[^\s,]+)/.exec(out)?.[1];
  if (!url) throw new Error(`no TCP address in:\n${out}`);
  return { proc, url, token: readFileSync(join(home, 'token'), 'utf8').trim() };
}

export async function stopDaemon(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await Promise.race([exited, sleep(25_000)]);
  if (proc.exitCode === null) proc.kill('SIGKILL');
}

export interface RoundSamples {
  create: number[];
  snapshot: number[];
  branch: number[];
}

export const noSamples = (): RoundSamples => ({ create: [], snapshot: [], branch: [] });

/**
 * One timed round: create → first exec, snapshot, branch(3) → first exec of all three; then everything is
 * destroyed. `gapMs` of idle before the branch lets a runtime's warm pools fill (both sides get the same).
 */
export async function round(rt: WorldRuntime, s: RoundSamples, gapMs = 0): Promise<void> {
  let t0 = performance.now();
  const w = await rt.create();
  await w.exec('state = list(range(1000))');
  s.create.push(performance.now() - t0);
  t0 = performance.now();
  const snap = await w.snapshot();
  s.snapshot.push(performance.now() - t0);
  if (gapMs > 0) await sleep(gapMs);
  t0 = performance.now();
  const kids = await rt.branch(snap, 3);
  await Promise.all(kids.map((k) => k.exec('len(state)')));
  s.branch.push(performance.now() - t0);
  await Promise.all([w, ...kids].map((x) => x.destroy()));
  await snap.destroy();
}
