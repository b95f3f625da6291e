/**
 * @module
 * Worlds as E2B sandboxes, driven through the official SDKs (`e2b`, `@e2b/code-interpreter`): create is
 * `Sandbox.create`, exec `runCode` (./cell.ts), run `commands.run`, files the files API, snapshot
 * `createSnapshot`, a branch of a snapshot one `Sandbox.create(snapshotId)` per world and a branch of a
 * running world `fork`. Works against E2B itself or a daemon's E2B-compatible API (docs/e2b.md).
 *
 * The engine is remote: every SDK failure is mapped (./errors.ts), only idempotent calls (kill, getInfo,
 * list, deleteSnapshot) are retried, and a sandbox found gone that was not destroyed here is a failed world,
 * told to the exit listeners.
 */
import { randomUUID } from 'node:crypto';
import { Sandbox } from '@e2b/code-interpreter';
import { CommandExitError } from 'e2b';
import { DriverError, RuntimeClosedError, SnapshotNotFoundError, WorldFailedError, WorldNotFoundError, WorldRuntimeError } from '../../base/errors.js';
import type { ExecOptions, ExecResult, RunOptions, RunResult } from '../../base/types.js';
import {
  DEFAULT_TIMEOUT_MS,
  type Driver,
  type DriverBranchOptions,
  type DriverCreateOptions,
  type DriverReport,
  type SnapshotHandle,
  type WorldExitListener,
  type WorldHandle,
} from '../driver.js';
import { type Execution, cellFor, execResult } from './cell.js';
import { mapError, retry } from './errors.js';
import { connection, type E2bDriverOptions, type E2bEndpoint, resolveEndpoint } from './options.js';

/** How long past an exec's timeout the driver waits for the world's own TimeoutError before it kills the world. */
const EXEC_GRACE_MS = 3000;
/** Sandboxes live until destroyed; E2B wants a timeout: an hour, the longest every E2B plan allows. */
const SANDBOX_TIMEOUT_MS = 3_600_000;
/** Metadata key on every sandbox of one driver, so close() and tests find them all (forks inherit it). */
export const OWNER_KEY = 'world-runtime-driver';

interface Live {
  sbx: Sandbox;
  /** Why the world died on its own, once it did. */
  failed?: string;
  /** A branch that has not drawn its own random state yet (its next exec does). */
  reseed?: boolean;
}

/** SDK errors a sandbox answers with: it was running when it said so. */
const ANSWERED = new Set(['FileNotFoundError', 'InvalidArgumentError', 'NotEnoughSpaceError', 'CommandExitError', 'AuthenticationError', 'RateLimitError']);

/** envd's words for a signal (Go's os.ProcessState: "signal: killed"), as the local drivers name it. */
const SIGNALS: Record<string, string> = {
  killed: 'SIGKILL',
  terminated: 'SIGTERM',
  interrupt: 'SIGINT',
  hangup: 'SIGHUP',
  aborted: 'SIGABRT',
  'segmentation fault': 'SIGSEGV',
  'broken pipe': 'SIGPIPE',
  quit: 'SIGQUIT',
};

const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export class E2bDriver implements Driver {
  readonly name = 'e2b';
  readonly endpoint: E2bEndpoint;
  /** This driver's mark on its sandboxes. */
  readonly owner = randomUUID();
  private readonly worlds = new Map<string, Live>();
  private readonly snapshots = new Map<string, string>();
  /** Ids destroyed here, with their kind: a later call names the right error. */
  private readonly gone = new Map<string, 'world' | 'snapshot'>();
  private readonly listeners: WorldExitListener[] = [];
  private closed = false;

  constructor(options: E2bDriverOptions = {}) {
    this.endpoint = resolveEndpoint(options);
  }

  private get conn() {
    return connection(this.endpoint);
  }

  private open(): void {
    if (this.closed) throw new RuntimeClosedError();
  }

  private live(world: WorldHandle): Live {
    this.open();
    const w = this.worlds.get(world.id);
    if (!w) throw new WorldNotFoundError(world.id);
    if (w.failed) throw new WorldFailedError(world.id, w.failed);
    return w;
  }

  private fail(id: string, reason: string): WorldFailedError {
    const w = this.worlds.get(id);
    if (w && !w.failed) {
      w.failed = reason;
      for (const l of this.listeners) {
        try {
          l(id, reason);
        } catch {
          // a listener's failure is its own
        }
      }
    }
    return new WorldFailedError(id, w?.failed ?? reason);
  }

  /** An answer the SDK passed on but the driver cannot read: the engine's fault, never a crash. */
  private odd(what: string, got: unknown): DriverError {
    const shown = got instanceof Error ? `${got.name}: ${got.message}` : JSON.stringify(got)?.slice(0, 200);
    return new DriverError(`e2b engine at ${this.endpoint.apiUrl} answered ${what} with something unexpected: ${shown}`);
  }

  /** Map a failure of a call on a known world: a sandbox the engine no longer runs is a failed world. */
  private async worldError(id: string, w: Live, err: unknown, what: string): Promise<WorldRuntimeError> {
    if (this.closed) return new RuntimeClosedError();
    if (!this.worlds.has(id)) return new WorldNotFoundError(id); // destroyed while the call ran
    // An answer about the call itself (a missing file, a bad argument) comes from a running sandbox: no need to ask.
    if (!WorldRuntimeError.is(err) && !ANSWERED.has((err as Error)?.name)) {
      const running = await retry(() => w.sbx.isRunning({ requestTimeoutMs: this.endpoint.requestTimeoutMs })).catch(() => undefined);
      if (running === false) return this.fail(id, `the e2b sandbox ${w.sbx.sandboxId} stopped during ${what}: ${(err as Error)?.message ?? err}`);
    }
    return mapError(err, `${what} in ${id}`, this.endpoint.apiUrl);
  }

  private async newSandbox(id: string, template: string): Promise<Live> {
    try {
      // Not retried: a create that timed out may have made a sandbox (close() finds it by its owner mark).
      const sbx = await Sandbox.create(template, { ...this.conn, timeoutMs: SANDBOX_TIMEOUT_MS, metadata: { [OWNER_KEY]: this.owner, world: id } });
      return { sbx };
    } catch (err) {
      throw mapError(err, `create of ${id} from template ${template}`, this.endpoint.apiUrl);
    }
  }

  private adopt(id: string, live: Live): WorldHandle {
    if (this.closed) {
      void this.kill(live.sbx.sandboxId);
      throw new RuntimeClosedError();
    }
    this.worlds.set(id, live);
    return { id };
  }

  async create(opts: DriverCreateOptions): Promise<WorldHandle> {
    this.open();
    return this.adopt(opts.id, await this.newSandbox(opts.id, this.endpoint.template));
  }

  async exec(world: WorldHandle, code: string, opts: ExecOptions): Promise<ExecResult> {
    const w = this.live(world);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const started = performance.now();
    const emit = (s: 'stdout' | 'stderr') => (m: { line: string }) => {
      try {
        opts.onOutput?.(s, m.line);
      } catch {
        // the caller's callback is not the world's failure
      }
    };
    let e: Execution;
    try {
      // requestTimeoutMs 0: the SDK's request timer would outlive a failed call; timeoutMs bounds the whole run.
      e = (await w.sbx.runCode(cellFor(code, timeoutMs, w.reseed), {
        timeoutMs: timeoutMs + EXEC_GRACE_MS,
        requestTimeoutMs: 0,
        onStdout: opts.onOutput ? emit('stdout') : undefined,
        onStderr: opts.onOutput ? emit('stderr') : undefined,
      })) as unknown as Execution;
    } catch (err) {
      const mapped = await this.worldError(world.id, w, err, 'exec');
      if (mapped.code !== 'TIMEOUT' || !this.worlds.has(world.id)) throw mapped;
      // Past the grace the code did not stop on its own TimeoutError: the world is killed, as a hung one.
      void this.kill(w.sbx.sandboxId);
      throw this.fail(world.id, `exec did not stop within ${EXEC_GRACE_MS} ms of its ${timeoutMs} ms timeout: the sandbox was killed`);
    }
    w.reseed = false;
    try {
      return execResult(e, performance.now() - started);
    } catch (err) {
      throw this.odd('exec', err);
    }
  }

  async run(world: WorldHandle, command: string | string[], opts: RunOptions): Promise<RunResult> {
    const w = this.live(world);
    const cmd = Array.isArray(command) ? command.map(quote).join(' ') : command;
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const out = { stdout: '', stderr: '' };
    const on = (s: 'stdout' | 'stderr') => (chunk: string) => {
      out[s] += chunk;
      try {
        opts.onOutput?.(s, chunk);
      } catch {
        // the caller's callback is not the world's failure
      }
    };
    const started = performance.now();
    const done = (exitCode: number | null, stdout: string, stderr: string, timedOut = false, signal = 'SIGKILL'): RunResult => ({
      exitCode,
      ...(exitCode === null ? { signal } : {}),
      stdout,
      stderr,
      truncated: false,
      timedOut,
      durationMs: performance.now() - started,
    });
    try {
      const r = await w.sbx.commands.run(cmd, {
        cwd: opts.cwd,
        envs: opts.env,
        timeoutMs,
        requestTimeoutMs: 0,
        onStdout: on('stdout'),
        onStderr: on('stderr'),
      });
      if (typeof r?.exitCode !== 'number') throw this.odd('run', r);
      return done(r.exitCode, String(r.stdout ?? ''), String(r.stderr ?? ''));
    } catch (err) {
      if (err instanceof CommandExitError) {
        const word = /^signal: (.+)$/i.exec(err.error ?? '')?.[1]?.toLowerCase();
        if (word === undefined) return done(err.exitCode, err.stdout, err.stderr);
        // A kill at the timeout is envd's; any other signal is the command's own end.
        const timedOut = word === 'killed' && performance.now() - started >= timeoutMs;
        return done(null, err.stdout, err.stderr, timedOut, SIGNALS[word] ?? word.toUpperCase());
      }
      const mapped = await this.worldError(world.id, w, err, 'run');
      // envd ends a command at its timeout with deadline_exceeded: a timed-out run, the world lives on.
      if (mapped.code === 'TIMEOUT') return done(null, out.stdout, out.stderr, true);
      throw mapped;
    }
  }

  async writeFile(world: WorldHandle, path: string, data: Uint8Array): Promise<void> {
    const w = this.live(world);
    try {
      await w.sbx.files.write(path, data.slice().buffer as ArrayBuffer);
    } catch (err) {
      throw await this.worldError(world.id, w, err, `writeFile ${path}`);
    }
  }

  async readFile(world: WorldHandle, path: string): Promise<Uint8Array> {
    const w = this.live(world);
    let data: unknown;
    try {
      data = await w.sbx.files.read(path, { format: 'bytes' });
    } catch (err) {
      throw await this.worldError(world.id, w, err, `readFile ${path}`);
    }
    if (!(data instanceof Uint8Array)) throw this.odd(`readFile ${path}`, typeof data);
    return data;
  }

  async snapshot(world: WorldHandle, id: string): Promise<SnapshotHandle> {
    const w = this.live(world);
    let snapshotId: string;
    try {
      snapshotId = (await w.sbx.createSnapshot())?.snapshotId;
    } catch (err) {
      throw await this.worldError(world.id, w, err, 'snapshot');
    }
    if (typeof snapshotId !== 'string' || snapshotId === '') throw this.odd('snapshot', snapshotId);
    if (this.closed) {
      void retry(() => Sandbox.deleteSnapshot(snapshotId, this.conn)).catch(() => {});
      throw new RuntimeClosedError();
    }
    this.snapshots.set(id, snapshotId);
    return { id };
  }

  async branch(source: SnapshotHandle | WorldHandle, opts: DriverBranchOptions): Promise<WorldHandle[]> {
    this.open();
    const snapshotId = this.snapshots.get(source.id);
    let made: Live[];
    if (snapshotId !== undefined) {
      const settled = await Promise.allSettled(opts.ids.map((id) => this.newSandbox(id, snapshotId)));
      made = await this.allOrNone(settled, `branch of ${source.id}`);
    } else if (this.worlds.has(source.id)) {
      const w = this.live(source);
      let forks: (Sandbox | Error)[];
      try {
        forks = await w.sbx.fork({ ...this.conn, count: opts.ids.length, timeoutMs: SANDBOX_TIMEOUT_MS });
      } catch (err) {
        throw await this.worldError(source.id, w, err, 'branch');
      }
      if (!Array.isArray(forks) || forks.length !== opts.ids.length) {
        if (Array.isArray(forks)) await Promise.all(forks.map((f) => (f instanceof Sandbox ? this.kill(f.sandboxId) : undefined)));
        throw this.odd(`fork of ${opts.ids.length}`, Array.isArray(forks) ? `${forks.length} answers` : forks);
      }
      made = await this.allOrNone(
        forks.map((f) => (f instanceof Error ? { status: 'rejected', reason: f } : { status: 'fulfilled', value: { sbx: f } })),
        `branch of ${source.id}`,
      );
    } else if (this.gone.get(source.id) === 'snapshot') throw new SnapshotNotFoundError(source.id);
    else throw new WorldNotFoundError(source.id);
    for (const l of made) l.reseed = !opts.sameRandom;
    return opts.ids.map((id, i) => this.adopt(id, made[i] as Live));
  }

  /** Every new sandbox, or none: one that failed fails the branch, and the others are killed. */
  private async allOrNone(settled: PromiseSettledResult<Live>[], what: string): Promise<Live[]> {
    const bad = settled.find((s) => s.status === 'rejected');
    if (!bad) return settled.map((s) => (s as PromiseFulfilledResult<Live>).value);
    await Promise.all(settled.map((s) => (s.status === 'fulfilled' ? this.kill(s.value.sbx.sandboxId) : undefined)));
    throw mapError(bad.reason, what, this.endpoint.apiUrl);
  }

  /** Kill a sandbox, retried; resolves whatever the engine says (a destroy always resolves). */
  private async kill(sandboxId: string): Promise<void> {
    await retry(() => Sandbox.kill(sandboxId, this.conn)).catch(() => {});
  }

  async destroyWorld(world: WorldHandle): Promise<void> {
    const w = this.worlds.get(world.id);
    if (!w) return;
    this.worlds.delete(world.id);
    this.gone.set(world.id, 'world');
    await this.kill(w.sbx.sandboxId);
  }

  async destroySnapshot(snapshot: SnapshotHandle): Promise<void> {
    const snapshotId = this.snapshots.get(snapshot.id);
    if (snapshotId === undefined) return;
    this.snapshots.delete(snapshot.id);
    this.gone.set(snapshot.id, 'snapshot');
    await retry(() => Sandbox.deleteSnapshot(snapshotId, this.conn)).catch(() => {});
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listeners.push(listener);
  }

  /** Ids of the sandboxes of this driver the engine still runs (all pages). */
  async sandboxes(): Promise<string[]> {
    const ids: string[] = [];
    const pages = Sandbox.list({ ...this.conn, query: { metadata: { [OWNER_KEY]: this.owner }, state: ['running', 'paused'] } });
    while (pages.hasNext) for (const s of await retry(() => pages.nextItems())) ids.push(s.sandboxId);
    return ids;
  }

  async doctor(): Promise<DriverReport> {
    this.open();
    const e = this.endpoint;
    const notes = [
      `endpoint: ${e.apiUrl} (control plane), ${e.sandboxUrl ?? `a host per sandbox under ${e.domain}`} (sandboxes)`,
      `template: ${e.template}; API key ${e.apiKey ? 'set' : 'not set (e2b.apiKey or E2B_API_KEY)'}`,
      'exec runs in the sandbox code interpreter; an exec timeout is SIGALRM in the world, then the sandbox is killed',
      'memoryMib, vcpus and diskMib are the template’s, not per world',
    ];
    const started = performance.now();
    let answers = false;
    try {
      await Sandbox.list({ ...this.conn, limit: 1 }).nextItems();
      answers = true;
      notes.push(`answers: one list call took ${(performance.now() - started).toFixed(1)} ms`);
    } catch (err) {
      notes.push(`does not answer: ${mapError(err, 'list', e.apiUrl).message}`);
    }
    return { driver: this.name, available: answers, notes, endpoint: e.apiUrl, latencyMs: answers ? performance.now() - started : null };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worlds = [...this.worlds.values()].map((w) => w.sbx.sandboxId);
    const snaps = [...this.snapshots.values()];
    this.worlds.clear();
    this.snapshots.clear();
    // Also what a create or fork left behind when its answer never came.
    const strays = await this.sandboxes().catch(() => [] as string[]);
    await Promise.all([
      ...[...new Set([...worlds, ...strays])].map((id) => this.kill(id)),
      ...snaps.map((s) => retry(() => Sandbox.deleteSnapshot(s, this.conn)).catch(() => {})),
    ]);
  }
}
