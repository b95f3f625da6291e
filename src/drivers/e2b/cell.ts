/**
 * `exec` through `runCode`: the code goes in as a string to a small Python runner defined in the same cell,
 * which gives the driver what the local drivers give and a notebook cell does not:
 * - the exact repr() of a trailing expression (a cell's `text` strips the quotes of a string's repr), carried
 *   in the result's JSON representation;
 * - a timeout inside the world: SIGALRM raises TimeoutError in the code, so the world lives on with its state
 *   (the SDK's own timeout only stops waiting; the driver then kills the world, as the contract asks);
 * - a random state of its own in a new branch (sameRandom: false), drawn at its first exec rather than in a
 *   round trip of its own.
 * The runner is defined again by each cell, so code that deletes or replaces it cannot break the next exec.
 */
import type { ExecError, ExecResult } from '../../base/types.js';

const RUNNER = `def __wr_exec(src, seconds, reseed):
    import ast, signal, sys
    if reseed:
        import os
        if "random" in sys.modules:
            sys.modules["random"].seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed(int.from_bytes(os.urandom(4), "little"))
    g = globals()
    tree = ast.parse(src, "<exec>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr) and not src.rstrip().endswith(";"):
        last = ast.Expression(tree.body.pop().value)
    def expired(signum, frame):
        raise TimeoutError("exec timed out after %g s" % seconds)
    armed = False
    try:
        old = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        armed = True
    except (ValueError, OSError):
        pass  # not the main thread: the driver's deadline still holds
    try:
        exec(compile(tree, "<exec>", "exec"), g)
        value = eval(compile(last, "<exec>", "eval"), g) if last is not None else None
    finally:
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
    if value is None:
        return None
    r = repr(value)
    class WrValue:
        def __repr__(self):
            return r
        def _repr_json_(self):
            return {"wr_repr": r}
    return WrValue()
`;

/** The cell that runs `code` with a timeout of `timeoutMs` inside the world, reseeding its random generators first when asked. */
export function cellFor(code: string, timeoutMs: number, reseed = false): string {
  // A JSON string is a valid Python string literal (\\uXXXX, \\n, \\", \\\\ mean the same).
  return `${RUNNER}__wr_exec(${JSON.stringify(code)}, ${Math.max(timeoutMs, 1) / 1000}, ${reseed ? 'True' : 'False'})\n`;
}

/** What runCode resolves with, as far as the driver reads it. */
export interface Execution {
  results: { isMainResult?: boolean; text?: string; json?: unknown }[];
  logs: { stdout: string[]; stderr: string[] };
  error?: { name: string; value: string; traceback: string };
}

export function execResult(e: Execution, durationMs: number): ExecResult {
  const out: ExecResult = { stdout: e.logs.stdout.join(''), stderr: e.logs.stderr.join(''), truncated: false, durationMs };
  const main = e.results.find((r) => r.isMainResult);
  if (main) {
    const carried = main.json && typeof main.json === 'object' ? (main.json as { wr_repr?: unknown }).wr_repr : undefined;
    out.value = typeof carried === 'string' ? carried : main.text;
  }
  if (e.error) {
    const error: ExecError = { type: String(e.error.name), message: String(e.error.value ?? ''), traceback: String(e.error.traceback ?? '') };
    out.error = error;
  }
  return out;
}
