/**
 * @module
 * The daemon's request limits and their ranges (the range of `--max-worlds` is in base/limits.ts, where the
 * CLI's `serve` reads it too).
 */

/** Largest request body accepted (file uploads included): 8 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** The range of `maxBodyBytes`: 1 KiB to 1 GiB (Node's Buffer holds at most a few GiB). */
export const MIN_MAX_BODY_BYTES = 1024;
export const MAX_MAX_BODY_BYTES = 1024 * 1024 * 1024;

/**
 * Deepest JSON request body, in levels of nested objects and arrays (the body itself is level 1). Checked on
 * the raw text before it is parsed: 8 MiB of `[` would otherwise cost the parser a second and 300 MB, and
 * the value would overflow every recursive reader after it.
 */
export const MAX_BODY_DEPTH = 64;
