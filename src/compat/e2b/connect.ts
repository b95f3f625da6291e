/**
 * @module
 * The Connect protocol (connectrpc.com/docs/protocol) as envd speaks it to the E2B SDK, JSON codec only:
 * unary calls are `application/json` both ways, errors a JSON `{code, message}` with the HTTP status of
 * the code; streaming calls are `application/connect+json`, each message framed by a 5-byte prefix (flags,
 * big-endian length), and the stream closed by a frame with flag 0x02 holding `{}` or `{"error": ...}`.
 * A streaming answer is always HTTP 200: the SDK reads the error of a non-200 streaming answer from its
 * status alone.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export const CONNECT_CODES = [
  'canceled',
  'unknown',
  'invalid_argument',
  'deadline_exceeded',
  'not_found',
  'already_exists',
  'permission_denied',
  'resource_exhausted',
  'failed_precondition',
  'aborted',
  'out_of_range',
  'unimplemented',
  'internal',
  'unavailable',
  'data_loss',
  'unauthenticated',
] as const;
export type ConnectCode = (typeof CONNECT_CODES)[number];

export function isConnectCode(v: unknown): v is ConnectCode {
  return typeof v === 'string' && (CONNECT_CODES as readonly string[]).includes(v);
}

const HTTP_STATUS: Record<ConnectCode, number> = {
  canceled: 499,
  unknown: 500,
  invalid_argument: 400,
  deadline_exceeded: 504,
  not_found: 404,
  already_exists: 409,
  permission_denied: 403,
  resource_exhausted: 429,
  failed_precondition: 400,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  data_loss: 500,
  unauthenticated: 401,
};

/** An error with a Connect code; envd handlers throw it and the transport writes it. */
export class ConnectError extends Error {
  override name = 'ConnectError';
  constructor(
    readonly code: ConnectCode,
    message: string,
  ) {
    super(message);
  }

  get status(): number {
    return HTTP_STATUS[this.code];
  }
}

export const END_STREAM = 0x02;

/** One frame: flags, length, JSON. */
export function frame(flags: number, json: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(json));
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into frames as it arrives; a frame longer than `maxBytes` is refused. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): { flags: number; data: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { flags: number; data: Buffer }[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (len > this.maxBytes) throw new ConnectError('resource_exhausted', `message of ${len} bytes is larger than ${this.maxBytes}`);
      if (this.buf.length < 5 + len) break;
      out.push({ flags: this.buf.readUInt8(0), data: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }

  get pending(): number {
    return this.buf.length;
  }
}

export function errorJson(err: ConnectError): { code: ConnectCode; message: string } {
  return { code: err.code, message: err.message };
}

/** Anything thrown by a handler, as a ConnectError (world-runtime errors by their kind). */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = err as { code?: string; message?: string };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  switch (e?.code) {
    case 'INVALID_ARGUMENT':
      return new ConnectError('invalid_argument', message);
    case 'FILE_NOT_FOUND':
      return new ConnectError('not_found', message);
    case 'WORLD_NOT_FOUND':
    case 'WRONG_STATE':
    case 'WORLD_FAILED':
    case 'RUNTIME_CLOSED':
      return new ConnectError('unavailable', message);
    case 'TIMEOUT':
      return new ConnectError('deadline_exceeded', message);
    case 'DISK_FULL':
    case 'CAPACITY':
      return new ConnectError('resource_exhausted', message);
    default:
      return new ConnectError('internal', message);
  }
}

/** `connect-timeout-ms`: at most 10 digits (the protocol's limit); undefined when absent or 0. */
export function timeoutOf(req: IncomingMessage): number | undefined {
  const raw = req.headers['connect-timeout-ms'];
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(raw)) return undefined;
  const ms = Number(raw);
  return ms > 0 ? Math.min(ms, 2_147_483_647) : undefined;
}

/** Write a unary answer. */
export function writeUnary(res: ServerResponse, result: unknown): void {
  const text = JSON.stringify(result);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function writeUnaryError(res: ServerResponse, err: ConnectError): void {
  const text = JSON.stringify(errorJson(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(err.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * A server-streaming answer. `closed` is true once the stream ended or the client went away; `onClose`
 * callbacks run once either way, so a handler can drop what it holds.
 */
export class ServerStream {
  private ended = false;
  private readonly closers: (() => void)[] = [];

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'content-type': 'application/connect+json' });
    res.flushHeaders();
    res.on('close', () => this.finish());
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Bytes written but not yet taken by the client. */
  get backlog(): number {
    return this.res.writableLength;
  }

  onClose(fn: () => void): void {
    if (this.ended) fn();
    else this.closers.push(fn);
  }

  send(message: unknown): void {
    if (!this.ended) this.res.write(frame(0, message));
  }

  /** The end-of-stream frame, with the error when there is one. */
  end(err?: ConnectError): void {
    if (this.ended) return;
    this.res.end(frame(END_STREAM, err ? { error: errorJson(err) } : {}));
    this.finish();
  }

  /** Cut the connection without an end frame: what a client sees when the sandbox behind it dies. */
  cut(): void {
    if (this.ended) return;
    this.res.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.ended && this.closers.length === 0) return;
    this.ended = true;
    for (const fn of this.closers.splice(0)) {
      try {
        fn();
      } catch {
        // a closer that fails must not stop the others
      }
    }
  }
}

// Readers for proto3 JSON: lowerCamelCase names, also the proto names; numbers as numbers or strings.

export type Json = Record<string, unknown>;

export function field(msg: Json, camel: string, snake = camel): unknown {
  return msg[camel] ?? msg[snake];
}

export function str(msg: Json, camel: string, snake = camel): string | undefined {
  const v = field(msg, camel, snake);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConnectError('invalid_argument', `${camel} must be a string`);
  return v;
}

export function obj(msg: Json, camel: string, snake = camel): Json | undefined {
  const v = field(msg, camel, snake);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConnectError('invalid_argument', `${camel} must be an object`);
  return v as Json;
}

export function int(msg: Json, camel: string, snake = camel): number | undefined {
  const v = field(msg, camel, snake);
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new ConnectError('invalid_argument', `${camel} must be an integer`);
  return n;
}

export function bool(msg: Json, camel: string, snake = camel): boolean {
  const v = field(msg, camel, snake);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new ConnectError('invalid_argument', `${camel} must be a boolean`);
  return v;
}

export function strMap(msg: Json, camel: string, snake = camel): Record<string, string> {
  const v = obj(msg, camel, snake) ?? {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw new ConnectError('invalid_argument', `${camel}.${k} must be a string`);
    out[k] = x;
  }
  return out;
}

export function strList(msg: Json, camel: string, snake = camel): string[] {
  const v = field(msg, camel, snake);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ConnectError('invalid_argument', `${camel} must be a list of strings`);
  return v as string[];
}

/** Proto `bytes`: standard or URL-safe base64. */
export function bytes(msg: Json, camel: string, snake = camel): Buffer {
  const v = field(msg, camel, snake);
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw new ConnectError('invalid_argument', `${camel} must be base64`);
  return Buffer.from(v, v.includes('-') || v.includes('_') ? 'base64url' : 'base64');
}

export function parseMessage(data: Buffer): Json {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    throw new ConnectError('invalid_argument', 'the request message is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConnectError('invalid_argument', 'the request message must be a JSON object');
  return v as Json;
}
