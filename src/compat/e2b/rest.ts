/**
 * @module
 * Plain HTTP pieces shared by the E2B surfaces: bounded body reads, JSON and text answers, and `ApiError`,
 * an error with the status and message E2B's API would answer (`{code, message}`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An answer E2B's control plane or envd REST would give: HTTP status, `{code, message}`. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A world-runtime error as the status E2B's API would answer for the same trouble. */
export function apiError(err: unknown): ApiError {
  const code = (err as { code?: unknown })?.code;
  const message = `world-runtime: ${(err as Error)?.message ?? String(err)}`;
  const status: Record<string, number> = { FORK_REFUSED: 409, WRONG_STATE: 409, WORLD_FAILED: 502, CAPACITY: 429, DISK_FULL: 507, INVALID_ARGUMENT: 400, RUNTIME_CLOSED: 503 };
  return new ApiError(typeof code === 'string' ? (status[code] ?? 500) : 500, message);
}

/** Read the whole body, refusing (413) past `limit` bytes; a client that disconnects rejects. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new ApiError(413, `request body of ${declared} bytes is larger than ${limit}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      chunks.length = 0;
      reject(err);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) fail(new ApiError(413, `request body is larger than ${limit} bytes`));
      else chunks.push(chunk);
    });
    req.once('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks));
    });
    req.once('error', fail);
    req.once('close', () => fail(new ApiError(499, 'the client went away')));
  });
}

/** Parse a JSON object body (empty: `{}`). */
export function jsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'request body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError(400, 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, json: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 204) {
    res.writeHead(204, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(json);
  res.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** E2B's error body: `{code, message}`. */
export function sendApiError(res: ServerResponse, err: ApiError): void {
  if (err.status === 413) res.setHeader('connection', 'close');
  sendJson(res, err.status, { code: err.status, message: err.message }, err.headers);
}

/** An HTTP reason phrase from a message: one line of printable ASCII, as Node accepts it. */
export function reasonPhrase(message: string): string {
  return message.replace(/[^\x20-\x7e]+/g, ' ').slice(0, 300).trim() || 'Error';
}

/**
 * A plain-text error as the code interpreter's server answers it. The SDK shows only the status and its
 * reason phrase for most statuses, so the phrase carries the message too.
 */
export function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, reasonPhrase(text), { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
