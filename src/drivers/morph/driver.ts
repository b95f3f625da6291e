/**
 * @module
 * The morph driver: worlds are Morph instances, reached only through Morph's REST API (rest.ts). A world is
 * an instance started from a template: a snapshot of an instance in which the agent (agent/morph_agent.py)
 * already runs, so a create is one start. `exec` reaches the agent's persistent interpreter through exec
 * calls (each runs the agent's client); `run` and files are exec calls too. A snapshot is a Morph instance
 * snapshot, which keeps every process of the VM, the interpreter too; a branch of a snapshot starts
 * instances from it, a branch of a running world is Morph's `/branch?count=N`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DiskFullError,
  DriverError,
  FileNotFoundError,
  InvalidArgumentError,
  RuntimeClosedError,
  SnapshotNotFoundError,
  WorldFailedError,
  WorldNotFoundError,
} from '../../base/errors.js';
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
import { DEFAULT_REQUEST_TIMEOUT_MS, MORPH_CLOUD_URL, MorphNotFound, MorphRest } from './rest.js';

const AGENT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../agent');
/** Where the agent lives in an instance: out of the world's own files (/world), and writable on any image. */
const GUEST_DIR = '/tmp/world-runtime-morph';
/**
 * How each exec call runs the agent's client. `-S`: it needs the stdlib only, no site-packages scanned. An
 * image whose stdlib has no compiled files (a read-only one) compiles every module at each start, most of a
 * call's time: the compiled files are kept beside the agent (and in the template) instead.
 */
const CLIENT = [
  'env',
  `PYTHONPYCACHEPREFIX=${GUEST_DIR}/pycache`,
  'PYTHONDONTWRITEBYTECODE=',
  'python3',
  '-S',
  '-c',
  // Imported, not run as a script: a script is compiled at every start, a module once.
  `import sys; sys.path.insert(0, ${JSON.stringify(GUEST_DIR)}); import morph_agent; sys.exit(morph_agent.main())`,
];
/** Argv bytes one exec call carries at most (Linux allows 128 KiB per argument). */
const ARG_BYTES = 96 * 1024;
/** Time an exec call may take beyond its code's own timeout (the agent's hang grace and the API's). */
const CALL_SLACK_MS = 60_000;
const READY_POLL_MS = 200;
const READY_TIMEOUT_MS = 300_000;

export interface MorphDriverOptions {
  /** @default $MORPH_API_KEY */
  apiKey: string;
  /** @default https://cloud.morph.so/api */
  baseUrl?: string;
  /** A snapshot with python3 (3.11 or later) to start worlds from. @default a snapshot of morphvm-minimal of each world's size */
  snapshotId?: string;
  /** Timeout of one API call (exec calls: their command's timeout on top). @default 60000 */
  requestTimeoutMs?: number;
}

interface Instance {
  id: string;
  instanceId: string;
  failed?: string;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64');

export class MorphDriver implements Driver {
  readonly name = 'morph';
  readonly rest: MorphRest;
  private readonly worlds = new Map<string, Instance>();
  private readonly snaps = new Map<string, string>();
  /** Worlds destroyed here: a branch of one is WorldNotFoundError, not a snapshot not found. */
  private readonly ended = new Set<string>();
  private readonly templates = new Map<string, Promise<string>>();
  private readonly listeners: WorldExitListener[] = [];
  /** Marks this driver's instances, so that what it leaves can be found (and none of another's touched). */
  readonly tag = randomBytes(6).toString('hex');
  private closed = false;
  private scratch = 0;

  constructor(private readonly opts: MorphDriverOptions) {
    this.rest = new MorphRest({ apiKey: opts.apiKey, baseUrl: opts.baseUrl ?? MORPH_CLOUD_URL, requestTimeoutMs: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS });
  }

  onWorldExit(listener: WorldExitListener): void {
    this.listeners.push(listener);
  }

  private open(): void {
    if (this.closed) throw new RuntimeClosedError();
  }

  private world(h: WorldHandle): Instance {
    this.open();
    const w = this.worlds.get(h?.id);
    if (!w) throw new WorldNotFoundError(h?.id);
    if (w.failed) throw new WorldFailedError(w.id, w.failed);
    return w;
  }

  /** The world died on its own (agent gone, hung, instance gone remotely): mark it, tell the listeners once. */
  private fail(w: Instance, reason: string, stop: boolean): WorldFailedError {
    if (!w.failed) {
      w.failed = reason;
      if (stop) void this.rest.request('DELETE', `/instance/${w.instanceId}`).catch(() => {});
      for (const l of this.listeners) l(w.id, reason);
    }
    return new WorldFailedError(w.id, w.failed);
  }

  /** A started instance, once Morph says it is ready. */
  private async start(snapshotId: string): Promise<string> {
    const inst = await this.rest.request('POST', '/instance', { query: { snapshot_id: snapshotId }, body: { metadata: { world_runtime: this.tag } } });
    const id = String(inst.id);
    let status = inst.status;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (status !== 'ready') {
      if (status === 'error' || Date.now() > deadline) {
        await this.rest.request('DELETE', `/instance/${id}`).catch(() => {});
        throw new DriverError(`morph: instance ${id} of snapshot ${snapshotId} ${status === 'error' ? 'failed to start' : 'was not ready in time'}`);
      }
      await new Promise((r) => setTimeout(r, READY_POLL_MS));
      status = (await this.rest.request('GET', `/instance/${id}`)).status;
    }
    return id;
  }

  /** The snapshot worlds of this size start from: the agent installed and running, its globals empty. */
  private template(o: DriverCreateOptions): Promise<string> {
    const key = this.opts.snapshotId ?? `${o.vcpus}/${o.memoryMib}/${o.diskMib ?? 4096}`;
    let t = this.templates.get(key);
    if (!t) {
      t = this.makeTemplate(o);
      this.templates.set(key, t);
      t.catch(() => this.templates.delete(key));
    }
    return t;
  }

  private async makeTemplate(o: DriverCreateOptions): Promise<string> {
    let base = this.opts.snapshotId;
    let made: string | undefined;
    if (!base) {
      const s = await this.rest.request('POST', '/snapshot', {
        body: { image_id: 'morphvm-minimal', vcpus: o.vcpus, memory: o.memoryMib, disk_size: o.diskMib ?? 4096, metadata: { world_runtime: 'base' } },
      });
      base = made = String(s.id);
    }
    const instanceId = await this.start(base);
    try {
      const files = ['worldexec.py', 'morph_agent.py'].map((f) => `printf %s ${Buffer.from(readFileSync(resolve(AGENT_DIR, f))).toString('base64')} | base64 -d > ${GUEST_DIR}/${f}`);
      const client = CLIENT.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
      // A first run call compiles what the client imports (subprocess too) into the template's cache.
      const script = `set -e; mkdir -p ${GUEST_DIR} /world; ${files.join('; ')}; ${client} start; ${client} run ${b64({ argv: 'true' })} >/dev/null`;
      const r = await this.rest.request('POST', `/instance/${instanceId}/exec`, { body: { command: ['sh', '-c', script] } });
      if (r.exit_code !== 0) throw new DriverError(`morph: cannot start the agent in instance ${instanceId} (python3 3.11 or later needed): ${String(r.stderr || r.stdout).slice(0, 500)}`);
      const snap = await this.rest.request('POST', `/instance/${instanceId}/snapshot`, { body: { metadata: { world_runtime: 'template' } } });
      return String(snap.id);
    } finally {
      await this.rest.request('DELETE', `/instance/${instanceId}`).catch(() => {});
      if (made) await this.rest.request('DELETE', `/snapshot/${made}`).catch(() => {});
    }
  }

  async create(o: DriverCreateOptions): Promise<WorldHandle> {
    this.open();
    const instanceId = await this.start(await this.template(o));
    return this.adopt(o.id, instanceId);
  }

  private async adopt(id: string, instanceId: string): Promise<WorldHandle> {
    if (this.closed) {
      await this.rest.request('DELETE', `/instance/${instanceId}`).catch(() => {});
      throw new RuntimeClosedError();
    }
    this.worlds.set(id, { id, instanceId });
    return { id };
  }

  /** One exec call running the agent: its JSON reply, or the world's failure. */
  // biome-ignore lint/suspicious/noExplicitAny: the agent's JSON reply, read field by field
  private async agent(w: Instance, op: string, req: Record<string, unknown>, timeoutMs: number): Promise<any> {
    let r: { exit_code: number; stdout: string; stderr: string };
    try {
      r = await this.rest.request('POST', `/instance/${w.instanceId}/exec`, { body: { command: [...CLIENT, op, b64(req)] }, timeoutMs: timeoutMs + CALL_SLACK_MS });
    } catch (err) {
      if (err instanceof MorphNotFound) throw this.fail(w, `its Morph instance ${w.instanceId} is gone (${err.message})`, false);
      if (this.closed && !this.worlds.has(w.id)) throw new RuntimeClosedError();
      throw err;
    }
    let reply: Record<string, unknown> | undefined;
    try {
      reply = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      reply = undefined;
    }
    if (r.exit_code === 3) throw this.fail(w, String(reply?.gone ?? 'its interpreter ended'), false);
    if (r.exit_code === 4) throw this.fail(w, `${String(reply?.hung ?? 'its interpreter hung')}; the instance was stopped`, true);
    if (r.exit_code !== 0 || !reply) throw new DriverError(`morph: the agent in instance ${w.instanceId} answered exit ${r.exit_code}: ${(r.stderr || r.stdout).slice(0, 500)}`);
    if (typeof reply.invalid === 'string') throw new InvalidArgumentError(reply.invalid);
    if (typeof reply.full === 'string') throw new DiskFullError(reply.full);
    return reply;
  }

  async exec(h: WorldHandle, code: string, opts: ExecOptions): Promise<ExecResult> {
    const w = this.world(h);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let req: Record<string, unknown> = { code, timeoutMs };
    if (b64(req).length > ARG_BYTES) {
      // Too large for one argument: sent in pieces to a scratch file the client reads.
      const n = ++this.scratch;
      await this.put(w, { scratch: n }, new TextEncoder().encode(code));
      req = { codeFile: `${GUEST_DIR}/code-${n}`, timeoutMs };
    }
    const r = await this.agent(w, 'exec', req, timeoutMs);
    for (const s of ['stdout', 'stderr'] as const) if (r[s]) opts.onOutput?.(s, r[s]);
    return { stdout: r.stdout, stderr: r.stderr, truncated: r.truncated, durationMs: r.durationMs, ...(r.value !== undefined ? { value: r.value } : {}), ...(r.error ? { error: r.error } : {}) };
  }

  async run(h: WorldHandle, command: string | string[], opts: RunOptions): Promise<RunResult> {
    const w = this.world(h);
    if (Array.isArray(command) && command.length === 0) throw new InvalidArgumentError('run: the argv array is empty');
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const r = await this.agent(w, 'run', { argv: command, cwd: opts.cwd, env: opts.env, timeoutMs }, timeoutMs);
    for (const s of ['stdout', 'stderr'] as const) if (r[s]) opts.onOutput?.(s, r[s]);
    return r as RunResult;
  }

  private async put(w: Instance, where: Record<string, unknown>, data: Uint8Array): Promise<void> {
    const chunk = (ARG_BYTES / 4) * 3 - 1024;
    for (let off = 0; off === 0 || off < data.length; off += chunk) {
      const part = Buffer.from(data.subarray(off, off + chunk)).toString('base64');
      await this.agent(w, 'write', { ...where, data: part, append: off > 0 }, DEFAULT_REQUEST_TIMEOUT_MS);
    }
  }

  async writeFile(h: WorldHandle, path: string, data: Uint8Array): Promise<void> {
    await this.put(this.world(h), { path }, data);
  }

  async readFile(h: WorldHandle, path: string): Promise<Uint8Array> {
    const w = this.world(h);
    const parts: Buffer[] = [];
    let offset = 0;
    for (;;) {
      const r = await this.agent(w, 'read', { path, offset, length: 384 * 1024 }, DEFAULT_REQUEST_TIMEOUT_MS);
      if (typeof r.missing === 'string') throw new FileNotFoundError(`no file ${JSON.stringify(path)} in world ${w.id}`);
      const b = Buffer.from(String(r.data), 'base64');
      parts.push(b);
      offset += b.length;
      if (b.length === 0 || offset >= r.size) return new Uint8Array(Buffer.concat(parts));
    }
  }

  async snapshot(h: WorldHandle, id: string): Promise<SnapshotHandle> {
    const w = this.world(h);
    const s = await this.call(w, () => this.rest.request('POST', `/instance/${w.instanceId}/snapshot`, { body: { metadata: { world_runtime: this.tag } } }));
    if (this.closed) {
      await this.rest.request('DELETE', `/snapshot/${s.id}`).catch(() => {});
      throw new RuntimeClosedError();
    }
    this.snaps.set(id, String(s.id));
    return { id };
  }

  /** A call about a world's instance: a 404 means it is gone remotely. */
  private async call<T>(w: Instance, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof MorphNotFound) throw this.fail(w, `its Morph instance ${w.instanceId} is gone (${err.message})`, false);
      throw err;
    }
  }

  async branch(source: SnapshotHandle | WorldHandle, o: DriverBranchOptions): Promise<WorldHandle[]> {
    this.open();
    const snapshotId = this.snaps.get(source?.id);
    let instanceIds: string[];
    if (snapshotId !== undefined) {
      const started = await Promise.allSettled(o.ids.map(() => this.start(snapshotId)));
      instanceIds = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
      const failed = started.find((s) => s.status === 'rejected');
      if (failed) {
        await Promise.all(instanceIds.map((i) => this.rest.request('DELETE', `/instance/${i}`).catch(() => {})));
        const reason = (failed as PromiseRejectedResult).reason;
        throw reason instanceof MorphNotFound ? new SnapshotNotFoundError(source.id) : reason;
      }
    } else {
      if (!this.worlds.has(source?.id)) throw this.ended.has(source?.id) ? new WorldNotFoundError(source.id) : new SnapshotNotFoundError(source?.id);
      const w = this.world(source as WorldHandle);
      const r = await this.call(w, () => this.rest.request('POST', `/instance/${w.instanceId}/branch`, { query: { count: String(o.ids.length) }, body: {} }));
      instanceIds = (r.instances as { id: string }[]).map((i) => String(i.id));
      // The snapshot of the instant is not kept: a branch of a running world leaves only its worlds.
      await this.rest.request('DELETE', `/snapshot/${r.snapshot.id}`).catch(() => {});
    }
    return Promise.all(o.ids.map((id, i) => this.adopt(id, instanceIds[i] as string)));
  }

  async destroyWorld(h: WorldHandle): Promise<void> {
    const w = this.worlds.get(h?.id);
    if (!w) return;
    this.worlds.delete(w.id);
    this.ended.add(w.id);
    await this.rest.request('DELETE', `/instance/${w.instanceId}`).catch(() => {});
  }

  async destroySnapshot(h: SnapshotHandle): Promise<void> {
    const sid = this.snaps.get(h?.id);
    if (sid === undefined) return;
    this.snaps.delete(h.id);
    await this.rest.request('DELETE', `/snapshot/${sid}`).catch(() => {});
  }

  /** Instances this driver started that Morph still lists. */
  async leftover(): Promise<string[]> {
    const r = await this.rest.request('GET', '/instance', { query: { 'metadata[world_runtime]': this.tag } });
    return (r.data as { id: string }[]).map((i) => String(i.id));
  }

  async doctor(): Promise<DriverReport> {
    this.open();
    const t0 = performance.now();
    let answers = true;
    let why = '';
    try {
      await this.rest.request('GET', '/image', { idempotent: false });
    } catch (err) {
      answers = false;
      why = (err as Error).message;
    }
    const latencyMs = Math.round((performance.now() - t0) * 10) / 10;
    return {
      driver: this.name,
      available: answers,
      endpoint: this.rest.endpoint,
      answers,
      latencyMs,
      notes: [
        `Morph API at ${this.rest.endpoint}: ${answers ? `answers (GET /image in ${latencyMs} ms)` : `does not answer: ${why}`}`,
        this.opts.snapshotId ? `worlds start from snapshot ${this.opts.snapshotId}` : 'worlds start from a snapshot of morphvm-minimal of their size, made on first use',
        'exec, run and files go through Morph exec calls (an agent with a persistent interpreter runs in each instance); run output arrives when the command ends',
      ],
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worlds = [...this.worlds.values()];
    this.worlds.clear();
    const snaps = [...this.snaps.values()];
    this.snaps.clear();
    const templates = await Promise.all([...this.templates.values()].map((t) => t.catch(() => undefined)));
    this.templates.clear();
    await Promise.all([
      ...worlds.map((w) => this.rest.request('DELETE', `/instance/${w.instanceId}`).catch(() => {})),
      ...[...snaps, ...templates].flatMap((s) => (s ? [this.rest.request('DELETE', `/snapshot/${s}`).catch(() => {})] : [])),
    ]);
  }
}
