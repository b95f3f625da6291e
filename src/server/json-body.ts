/**
 * @module
 * A JSON request body into a value, refusing bodies nested past {@link MAX_BODY_DEPTH} before the parser
 * sees them. Everything downstream (the schema checker, the encoders, JSON.stringify of the answer) reads
 * values recursively; bounding the depth once here is what keeps any of them from overflowing the stack.
 */
import { InvalidArgumentError } from '../base/errors.js';
import { MAX_BODY_DEPTH } from './defaults.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Whether JSON text nests objects and arrays deeper than `max`, by one pass over its bytes (brackets inside
 * strings do not count). Bytes of multi-byte UTF-8 characters are all ≥ 0x80, so they never look like
 * quotes or brackets.
 */
export function nestsDeeperThan(raw: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** The parsed body (`{}` when empty); malformed or too deeply nested JSON is `InvalidArgumentError` (400). */
export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return {};
  if (nestsDeeperThan(raw, MAX_BODY_DEPTH)) {
    throw new InvalidArgumentError(`body: JSON nested deeper than ${MAX_BODY_DEPTH} levels of objects and arrays (the limit for a request body)`, {
      limit: MAX_BODY_DEPTH,
    });
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`body: not valid JSON (${(err as Error).message})`);
  }
}
