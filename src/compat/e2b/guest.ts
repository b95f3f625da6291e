/**
 * @module
 * Calling `_wr_e2b` (guest-*.ts) in a world through `World.exec`: each call is one exec of a one-line
 * expression whose value (the repr of a JSON string) carries the answer, so nothing the call does lands in
 * the user's namespace and its answer is not held to the exec output cap. A world whose interpreter lost
 * or replaced the module (`del sys.modules[...]`) gets it installed again, once per call.
 */
import type { World } from '../../index.js';
import { ConnectError, type ConnectCode, isConnectCode } from './connect.js';
import { GUEST_CELL } from './guest-cell.js';
import { GUEST_CORE } from './guest-core.js';
import { GUEST_FILES } from './guest-files.js';

const SOURCE = GUEST_CORE + GUEST_FILES + GUEST_CELL;
const MODULE = '_wr_e2b';
/** A guest call that has not answered in this long is interrupted (a FIFO read, a huge directory). */
export const GUEST_TIMEOUT_MS = 30_000;

export interface GuestCallOptions {
  /** Pass the world's main namespace (the default context) to the operation. */
  globals?: boolean;
  timeoutMs?: number;
  onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
}

/** The one-line expression that calls `op`; no name is bound in the world's namespace. */
function expression(op: string, args: unknown, globals: boolean): string {
  return `__import__('sys').modules[${JSON.stringify(MODULE)}].call(${JSON.stringify(op)}, ${JSON.stringify(JSON.stringify(args))}${globals ? ', globals()' : ''})`;
}

function installCode(env: Record<string, string>): string {
  // Lambdas keep `sys`, `types` and the module out of the user's namespace.
  return (
    `(lambda s, m: (s.modules.__setitem__(${JSON.stringify(MODULE)}, m), exec(compile(${JSON.stringify(SOURCE)}, '<wr-e2b>', 'exec'), m.__dict__), ` +
    `m.call('init', ${JSON.stringify(JSON.stringify({ env }))}))[2])(__import__('sys'), __import__('types').ModuleType(${JSON.stringify(MODULE)}))`
  );
}

/** The helper's answer is not the helper's: code in the world replaced or broke it. */
class BrokenHelper extends Error {}

/**
 * Python's repr of a str whose characters are printable ASCII (json.dumps with ensure_ascii), back to the
 * str: quotes stripped, backslash escapes undone.
 */
export function unrepr(value: string): string {
  const q = value[0];
  if ((q !== "'" && q !== '"') || value.length < 2 || value[value.length - 1] !== q) throw new Error(`not a str repr: ${value.slice(0, 80)}`);
  return value.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[\\'"nrt])/g, (_m, e: string) => {
    switch (e[0]) {
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case 't':
        return '\t';
      case 'x':
      case 'u':
      case 'U':
        return String.fromCodePoint(Number.parseInt(e.slice(1), 16));
      default:
        return e;
    }
  });
}

function decode(value: string | undefined): unknown {
  if (value === undefined) throw new BrokenHelper('the sandbox helper gave no answer (the code in the sandbox replaced it?)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(unrepr(value));
  } catch {
    throw new BrokenHelper('the sandbox helper gave an answer that is not JSON (the code in the sandbox replaced it?)');
  }
  if (typeof parsed !== 'object' || parsed === null || !('ok' in parsed || 'err' in parsed)) throw new BrokenHelper('the sandbox helper gave a malformed answer');
  const p = parsed as { ok?: unknown; err?: { code?: unknown; message?: unknown } };
  if ('ok' in p) return p.ok;
  const code: ConnectCode = isConnectCode(p.err?.code) ? p.err.code : 'internal';
  throw new ConnectError(code, typeof p.err?.message === 'string' ? p.err.message : 'the sandbox helper failed');
}

/**
 * Install `_wr_e2b` in a world (and set environment variables). Compiling it takes a few ms, paid once per
 * daemon: sandboxes are branches of a template world that has it (sandboxes.ts), and again only where code
 * in a world removed it.
 */
export async function installGuest(world: World, env: Record<string, string>): Promise<void> {
  const r = await world.exec(installCode(env), { timeoutMs: GUEST_TIMEOUT_MS });
  if (r.error) throw new ConnectError('internal', `cannot install the sandbox helper: ${r.error.type}: ${r.error.message}`);
  decode(r.value);
}

/** Call one guest operation; its `{"err"}` answers reject with a ConnectError of the guest's code. */
export async function guestCall<T>(world: World, op: string, args: unknown, opts: GuestCallOptions = {}): Promise<T> {
  const code = expression(op, args, opts.globals === true);
  // Output written straight to fds 1 and 2 (os.system, C code) comes only with the result: pass it on after.
  const streamed = { stdout: 0, stderr: 0 };
  const onOutput = opts.onOutput;
  const execOpts = {
    timeoutMs: opts.timeoutMs ?? GUEST_TIMEOUT_MS,
    ...(onOutput
      ? {
          onOutput: (s: 'stdout' | 'stderr', chunk: string) => {
            streamed[s] += chunk.length;
            onOutput(s, chunk);
          },
        }
      : {}),
  };
  for (let attempt = 0; ; attempt++) {
    streamed.stdout = 0;
    streamed.stderr = 0;
    const r = await world.exec(code, execOpts);
    if (onOutput) {
      if (r.stdout.length > streamed.stdout) onOutput('stdout', r.stdout.slice(streamed.stdout));
      if (r.stderr.length > streamed.stderr) onOutput('stderr', r.stderr.slice(streamed.stderr));
    }
    // Code in the world removed or replaced the helper: it is the world's own, so put ours back, once.
    const missing = r.error?.type === 'KeyError' && r.error.message.includes(MODULE);
    if (r.error && !missing) {
      const kind = r.error.type === 'TimeoutError' ? 'deadline_exceeded' : 'internal';
      throw new ConnectError(kind, `the sandbox helper failed: ${r.error.type}: ${r.error.message}`);
    }
    try {
      if (missing) throw new BrokenHelper();
      return decode(r.value) as T;
    } catch (err) {
      if (!(err instanceof BrokenHelper) || attempt > 0) throw err instanceof BrokenHelper ? new ConnectError('internal', err.message) : err;
      await installGuest(world, {});
    }
  }
}


