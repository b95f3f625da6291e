/**
 * Shared test helpers for the store tests: temp database paths and child node processes.
 * No side effects on import (npm test runs every .js under dist/test/, this one included).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** A fresh database path in its own temp dir, removed after the test. */
export function tempDb(t: TestContext, name = 'world-runtime.duckdb'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'wr-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, name);
}

/** The compiled child fixture (dist/test/store/child.js). */
export const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'child.js');

/** A child node process running the fixture in `role`, with a way to wait for a stdout line. */
export interface Child {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching `re` (rejects if the child exits first, or after `ms`). */
  line(re: RegExp, ms?: number): Promise<string>;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Start the child fixture; it is killed after the test if still alive. */
export function spawnChild(t: TestContext, role: string, args: string[]): Child {
  const proc = spawn(process.execPath, [CHILD, ...args], {
    env: { ...process.env, WR_STORE_CHILD: role },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  proc.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    let nl = out.indexOf('\n');
    while (nl >= 0) {
      const l = out.slice(0, nl);
      out = out.slice(nl + 1);
      for (const w of [...waiters]) {
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
      nl = out.indexOf('\n');
    }
  });
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    proc,
    exited,
    stderr: () => err,
    line(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child: no line matching ${re} within ${ms} ms; stderr: ${err}`)), ms);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
        void exited.then(({ code, signal }) => {
          clearTimeout(timer);
          reject(new Error(`child exited (${code ?? signal}) before a line matching ${re}; stderr: ${err}`));
        });
      });
    },
  };
}
