/**
 * @module
 * Morph's own HTTP pieces on top of ../http.ts: its status for each world-runtime error, its error body
 * (`{detail}`), and JSON bodies where `null` means none.
 */
import type { ServerResponse } from 'node:http';
import { ApiError, jsonObject as jsonObjectOf, sendJson, statusError } from '../http.js';

export { ApiError, readBody, sendJson } from '../http.js';

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
  return err instanceof ApiError ? err : statusError(err, STATUS);
}

/** A JSON object body (empty or `null`: `{}`). */
export function jsonObject(body: Buffer): Record<string, unknown> {
  return jsonObjectOf(body, { nullIsEmpty: true });
}

/** Morph's error body (FastAPI's): `{detail}`. The SDK puts the whole body in its error message. */
export function sendError(res: ServerResponse, err: ApiError): void {
  if (err.status === 413) res.setHeader('connection', 'close');
  sendJson(res, err.status, { detail: err.message });
}
