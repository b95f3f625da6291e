/**
 * Running the command line as a user would: `node dist/src/cli/main.js ...` (and the justfile's recipes)
 * with WORLD_RUNTIME_HOME set to a test's own home, the daemon started on demand.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { MAIN } from '../server/helpers.js';

export interface RunOptions {
  input?: string;
  env?: Record<string, string>;
}

export interface CliRunner {
  /** Run `world-runtime ARGS`. */
  cli(args: string[], options?: RunOptions): SpawnSyncReturns<string>;
  /** Run it, assert exit 0, return stdout. */
  ok(args: string[], options?: RunOptions): string;
  /** Run it with --json, assert exit 0, parse stdout. */
  // biome-ignore lint/suspicious/noExplicitAny: the CLI's --json output, of many shapes
  json(args: string[], options?: RunOptions): any;
  /** Run it, assert the exit code and exactly one stderr line `world-runtime: error: ...` matching `pattern`. */
  fails(args: string[], code: number, pattern: RegExp, options?: RunOptions): SpawnSyncReturns<string>;
}

export function cliRunner(home: () => string): CliRunner {
  const cli = (args: string[], options: RunOptions = {}) =>
    spawnSync(process.execPath, [MAIN, ...args], {
      encoding: 'utf8',
      timeout: 60_000,
      input: options.input ?? '',
      env: { ...process.env, WORLD_RUNTIME_HOME: home(), WORLD_RUNTIME_TOKEN: '', ...options.env },
    });
  const ok = (args: string[], options?: RunOptions) => {
    const r = cli(args, options);
    assert.equal(r.status, 0, `world-runtime ${args.join(' ')} exited ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };
  return {
    cli,
    ok,
    json: (args, options) => JSON.parse(ok([...args, '--json'], options)),
    fails(args, code, pattern, options) {
      const r = cli(args, options);
      assert.equal(r.status, code, `world-runtime ${args.join(' ')}: expected exit ${code}, got ${r.status}\n${r.stdout}\n${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one-line error, got:\n${r.stderr}`);
      assert.match(lines[0] as string, /^world-runtime: error: /);
      assert.match(lines[0] as string, pattern);
      return r;
    },
  };
}

/** The checkout (or build root) holding the justfile, and why the recipe tests would have to skip. */
export function justSetup(): { root: string; just: string; skip: string | false } {
  const root = resolve(dirname(MAIN), '../../..');
  const just = join(root, 'node_modules/.bin/just');
  const skip = !existsSync(just) || !existsSync(join(root, 'justfile')) ? 'just (rust-just) or the justfile is missing' : false;
  return { root, just, skip };
}

/** Run `just RECIPE ARGS` on the justfile with WORLD_RUNTIME_HOME set to `home`. */
export function recipe(home: string, args: string[]): SpawnSyncReturns<string> {
  const { root, just } = justSetup();
  return spawnSync(just, ['--justfile', join(root, 'justfile'), '--working-directory', root, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, WORLD_RUNTIME_HOME: home, WORLD_RUNTIME_TOKEN: '' },
  });
}
