/**
 * @module
 * Plain HTTP pieces of the Morph-compatible routes: `ApiError` (a status and the `{detail}` body Morph's
 * API answers with), world-runtime errors mapped to statuses, bounded JSON bodies and answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const STATUS: Record<string, number> = {
  INVALID_ARGUMENT: 400,
  WORLD_NOT_FOUND: 404,
  SNAPSHOT_NOT_FOUND: 404,
  SOURCE_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  WRONG_STATE: 409,
  FORK_REFUSED: 409,
  CAPACITY: 429,
  WORLD_FAILED: 502,
  RUNTIME_CLOSED: 503,
  DISK_FULL: 507,
};

/** A world-runtime error as the status Morph's API would answer for the same trouble. */
export function apiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const code = (err as { code?: unknown })?.code;
  const status = typeof code === 'string' ? (STATUS[code] ?? 500) : 500;
  return new ApiError(status, `world-runtime: ${(err as Error)?.message ?? String(err)}`);
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

/** A JSON object body (empty or `null`: `{}`). */
export function jsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'request body is not valid JSON');
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, json: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(json);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Morph's error body (FastAPI's): `{detail}`. The SDK puts the whole body in its error message. */
export function sendError(res: ServerResponse, err: ApiError): void {
  if (err.status === 413) res.setHeader('connection', 'close');
  sendJson(res, err.status, { detail: err.message });
}
