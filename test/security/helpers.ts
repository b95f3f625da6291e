/**
 * Shared by the attack tests: a runtime with per-world isolation (or a skip saying why there is none), and
 * Python snippets a hostile world runs.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { OpenOptions, World, WorldRuntime } from '../../src/index.js';
import { withRuntime } from '../fixtures/runtime.js';

/** Why per-world isolation cannot be tested here, or false. */
export const noWorldIsolation: string | false =
  process.getuid?.() !== 0 ? 'per-world isolation needs root (docs/security.md)' : process.arch !== 'x64' ? 'per-world isolation is built for x86_64' : false;

/** A runtime in a temp home with isolation 'world' (pools off unless asked: attacks want their own trees). */
export function withWorlds<T>(fn: (rt: WorldRuntime) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  return withRuntime(fn, { isolation: 'world', pool: { worlds: 0, branchesPerSnapshot: 0 }, ...options });
}

/** Run Python in a world that sets `_result`; returns it (through JSON on stdout). */
export async function py<T = unknown>(w: World, code: string): Promise<T> {
  const r = await w.exec(`${code}\nimport json as _j, sys as _s\n_s.stdout.write("\\n@@" + _j.dumps(_result))`);
  if (r.error) throw new Error(`${r.error.type}: ${r.error.message}\n${r.error.traceback}`);
  return JSON.parse(r.stdout.slice(r.stdout.lastIndexOf('\n@@') + 3)) as T;
}

/** Every folder of this runtime's that holds worlds' files and sockets: what no world may reach. */
export function runtimePaths(rt: WorldRuntime): string[] {
  const paths = [join(rt.home, 'run'), join(rt.home, 'fs'), join(rt.home, 'layers'), rt.home];
  for (const base of [join(rt.home, 'fs', 'layers'), join(rt.home, 'layers'), join(rt.home, 'run')]) {
    try {
      for (const rtid of readdirSync(base)) {
        paths.push(join(base, rtid));
        for (const entry of readdirSync(join(base, rtid))) paths.push(join(base, rtid, entry));
      }
    } catch {
      // not this backend's
    }
  }
  return paths;
}

/** Python: try `fn(path)` on each path; `_result` maps path -> 'ok' or the errno name. */
export function tryEach(paths: string[], action: string): string {
  return `import errno, os
_result = {}
for _p in ${JSON.stringify(paths)}:
    try:
        ${action}
        _result[_p] = 'ok'
    except OSError as _e:
        _result[_p] = errno.errorcode.get(_e.errno, str(_e.errno))`;
}
