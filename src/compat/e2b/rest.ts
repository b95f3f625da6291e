/**
 * @module
 * E2B's own HTTP pieces on top of ../http.ts: its status for each world-runtime error, its error body
 * (`{code, message}`) and the code interpreter's plain-text errors.
 */
import type { ServerResponse } from 'node:http';
import { type ApiError, sendJson, statusError } from '../http.js';

export { ApiError, jsonObject, readBody, sendJson } from '../http.js';

/** A world-runtime error as the status E2B's API would answer for the same trouble. */
export function apiError(err: unknown): ApiError {
  return statusError(err, { FORK_REFUSED: 409, WRONG_STATE: 409, WORLD_FAILED: 502, CAPACITY: 429, DISK_FULL: 507, INVALID_ARGUMENT: 400, RUNTIME_CLOSED: 503 });
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
