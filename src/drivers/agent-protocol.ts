/**
 * @module
 * The host side of the world agents' protocol (agent/PROTOCOL.md), shared by every driver whose worlds run an
 * agent (process, microvm): the error each code stands for, the decoding of every reply, and files moved in
 * chunks. A world runs hostile code that can write to its own channel, so a reply may be anything: each field
 * is checked, only the fields the protocol names are kept, and a reply that is not what the protocol says
 * becomes a `DriverError` naming the world and the field, never a crash nor a value of the wrong type.
 */
import { DiskFullError, DriverError, FileNotFoundError, ForkRefusedError, InvalidArgumentError, type WorldRuntimeError } from '../base/errors.js';
import type { ExecResult, RunResult } from '../base/types.js';

/** The codes an agent answers with: each is the code of the error class it becomes (base/errors.ts). */
const AGENT_ERRORS = {
  INVALID_ARGUMENT: (message: string) => new InvalidArgumentError(message),
  FILE_NOT_FOUND: (message: string) => new FileNotFoundError(message),
  DISK_FULL: (message: string) => new DiskFullError(message),
  FORK_REFUSED: (message: string) => new ForkRefusedError(message),
  DRIVER: (message: string) => new DriverError(message),
} as const;

export type AgentErrorCode = keyof typeof AGENT_ERRORS;

/**
 * The error an agent's `{code, message}` stands for. Any other code (a process-driver keeper's own, or one a
 * world made up: it must not pass for, say, RuntimeClosedError) is a `DriverError` with the message as sent.
 */
export function agentError(code: unknown, message: unknown, cause?: unknown): WorldRuntimeError {
  const text = typeof message === 'string' ? message : `agent error ${typeof code === 'string' ? code : '(no code)'}`;
  if (typeof code === 'string' && Object.hasOwn(AGENT_ERRORS, code)) return AGENT_ERRORS[code as AgentErrorCode](text);
  return new DriverError(text, cause);
}

/** One line from an agent, sorted: streamed data for a request, a reply, or something that answers nothing. */
export type AgentMessage =
  | { kind: 'event'; id: number; event: string; data: string }
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; code: unknown; message: unknown }
  | { kind: 'unsolicited' };

/** Sort one parsed line by the envelope (`{id, event, data}`, `{id, ok: true, result}`, `{id, ok: false, error}`). */
export function decodeMessage(msg: Record<string, unknown>): AgentMessage {
  const id = msg.id;
  if (typeof id !== 'number' || !Number.isSafeInteger(id)) return { kind: 'unsolicited' };
  if (typeof msg.event === 'string') return { kind: 'event', id, event: msg.event, data: typeof msg.data === 'string' ? msg.data : '' };
  if (msg.ok === true) return { kind: 'result', id, result: msg.result ?? {} };
  const e = isObject(msg.error) ? msg.error : {};
  return { kind: 'error', id, code: e.code, message: e.message };
}

/** Event data one request may receive unless it says otherwise: twice the 1 MiB output cap, JSON-escaped. */
export const EVENT_BUDGET = 4 * 1024 * 1024;

/**
 * The `onEvent` of a request that streams output: only `stdout` and `stderr` reach `onOutput` (a world may
 * send any event name), and an exception of the caller's callback stays out of the channel that called it.
 */
export function outputEvents(onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void): ((event: string, data: string) => void) | undefined {
  if (!onOutput) return undefined;
  return (event, data) => {
    if (event !== 'stdout' && event !== 'stderr') return;
    try {
      onOutput(event, data);
    } catch {
      // the caller's own error: it must not cut the world's channel, nor end the runtime
    }
  };
}

// ------------------------------------------------------------------ results

type Fields = Record<string, unknown>;

function isObject(v: unknown): v is Fields {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks one reply's fields; every failure names the world, the op and the field. */
class Reply {
  readonly fields: Fields;
  constructor(
    raw: unknown,
    private readonly what: string,
  ) {
    if (!isObject(raw)) throw this.bad('the reply', raw);
    this.fields = raw;
  }

  bad(field: string, value: unknown): DriverError {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    return new DriverError(`${this.what}: ${field} is ${got}, not what the protocol says (agent/PROTOCOL.md)`);
  }

  string(key: string, from: Fields = this.fields, prefix = ''): string {
    const v = from[key];
    if (typeof v !== 'string') throw this.bad(prefix + key, v);
    return v;
  }

  boolean(key: string): boolean {
    const v = this.fields[key];
    if (typeof v !== 'boolean') throw this.bad(key, v);
    return v;
  }

  /** A finite number ≥ 0 (a duration, a size). */
  amount(key: string, integer = false): number {
    const v = this.fields[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isSafeInteger(v))) throw this.bad(key, v);
    return v;
  }
}

/** An `exec` reply as an ExecResult: `{stdout, stderr, truncated, durationMs, value?, error?: {type, message, traceback}}`. */
export function decodeExecResult(raw: unknown, world: string): ExecResult {
  const r = new Reply(raw, `world ${world} sent a malformed exec reply`);
  const out: ExecResult = { stdout: r.string('stdout'), stderr: r.string('stderr'), truncated: r.boolean('truncated'), durationMs: r.amount('durationMs') };
  if (r.fields.value !== undefined) out.value = r.string('value');
  if (r.fields.error !== undefined) {
    const e = r.fields.error;
    if (!isObject(e)) throw r.bad('error', e);
    out.error = { type: r.string('type', e, 'error.'), message: r.string('message', e, 'error.'), traceback: r.string('traceback', e, 'error.') };
  }
  return out;
}

/** A `run` reply as a RunResult: `{exitCode: integer|null, signal?, stdout, stderr, truncated, timedOut, durationMs}`. */
export function decodeRunResult(raw: unknown, world: string): RunResult {
  const r = new Reply(raw, `world ${world} sent a malformed run reply`);
  const code = r.fields.exitCode;
  if (code !== null && !(typeof code === 'number' && Number.isSafeInteger(code))) throw r.bad('exitCode', code);
  const out: RunResult = {
    exitCode: code,
    stdout: r.string('stdout'),
    stderr: r.string('stderr'),
    truncated: r.boolean('truncated'),
    timedOut: r.boolean('timedOut'),
    durationMs: r.amount('durationMs'),
  };
  if (r.fields.signal !== undefined) out.signal = r.string('signal');
  return out;
}

// ------------------------------------------------------------------ files

/** Bytes of file data per message (base64 makes it 256 KiB on the wire). */
export const FILE_CHUNK_BYTES = 192 * 1024;
/** Largest file `readFile` returns whole; bigger ones are refused rather than held in the host's memory. */
export const MAX_READ_BYTES = 1024 * 1024 * 1024;

/** Sends one request to a world's agent; resolves with the reply's `result`, rejects with the driver's error. */
export type AgentRequest = (op: string, args: Record<string, unknown>, onEvent?: (event: string, data: string) => void, budget?: number) => Promise<unknown>;

/** `write_file` in chunks: the file lands in a temporary file, renamed into place with the last chunk. */
export async function writeWorldFile(request: AgentRequest, path: string, data: Uint8Array): Promise<void> {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  do {
    const chunk = buf.subarray(offset, offset + FILE_CHUNK_BYTES);
    const last = offset + chunk.length >= buf.length;
    await request('write_file', { path, data: chunk.toString('base64'), first: offset === 0, last });
    offset += chunk.length;
  } while (offset < buf.length);
}

/**
 * `read_file`: the file streams in as `data` events and the reply gives its size. Time and memory are linear
 * in the file's size; a world that sends more than the limit, or other than the size it states, gets an error.
 */
export async function readWorldFile(request: AgentRequest, path: string, world: string): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  let size = 0;
  let over = false;
  const onEvent = (ev: string, data: string) => {
    if (ev !== 'data' || over) return;
    const b = Buffer.from(data, 'base64');
    size += b.length;
    if (size > MAX_READ_BYTES) over = true;
    else parts.push(b);
  };
  // The agent refuses a file past the limit before sending any of it; the budget (its base64 plus the
  // envelopes) only cuts off a world that streams more than it said it would.
  const budget = Math.ceil((MAX_READ_BYTES * 4) / 3) + (MAX_READ_BYTES / FILE_CHUNK_BYTES + 1) * 64;
  const r = new Reply(await request('read_file', { path, maxBytes: MAX_READ_BYTES }, onEvent, budget), `world ${world} sent a malformed read_file reply`);
  const said = r.amount('size', true);
  if (over) throw new DriverError(`world ${world} streamed more than ${MAX_READ_BYTES} bytes for readFile of ${JSON.stringify(path)}`);
  if (said !== size) throw new DriverError(`world ${world} sent ${size} bytes for readFile of ${JSON.stringify(path)} but said ${said}`);
  const out = Buffer.concat(parts, size);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
