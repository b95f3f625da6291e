/**
 * @module
 * The HTTP pieces every compatible API (E2B under /e2b, Morph under /morph) needs: `ApiError` (a status
 * and a message, the body shape is each API's own), bounded body reads, JSON object bodies, JSON answers,
 * and world-runtime error codes mapped to a status through each API's table.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An answer the foreign API would give: an HTTP status and a message, with extra headers when needed. */
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

/** A world-runtime error as an `ApiError` whose status `table` gives for its code (else 500). */
export function statusError(err: unknown, table: Readonly<Record<string, number>>): ApiError {
  const code = (err as { code?: unknown })?.code;
  const status = typeof code === 'string' ? (table[code] ?? 500) : 500;
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

/** Parse a JSON object body: empty is `{}`, and so is `null` where `nullIsEmpty` (Morph's SDK sends it). */
export function jsonObject(body: Buffer, options: { nullIsEmpty?: boolean } = {}): Record<string, unknown> {
  if (body.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'request body is not valid JSON');
  }
  if (v === null && options.nullIsEmpty) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ApiError(400, 'request body must be a JSON object');
  return v as Record<string, unknown>;
}

/** A JSON answer (204: none), or a cut connection when the headers already went. */
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
