/**
 * @module
 * Bounds on free-form JSON (world metadata): how deep it nests and how big it serialises. Deeply nested
 * values are walked with an explicit stack, never by recursion, so no depth a caller sends can overflow the
 * call stack here; and a value within the bounds is then shallow enough for every recursive consumer
 * (JSON.stringify, the schema checker, the encoders).
 */
import { InvalidArgumentError } from './errors.js';

export interface JsonBounds {
  /** Most levels of nested objects and arrays (`{}` is 1 level, `{"a": []}` is 2). */
  maxDepth: number;
  /** Most bytes of its UTF-8 JSON text. */
  maxBytes: number;
}

/**
 * How the value breaks `maxDepth` or `maxBytes` before serialising it, or null. Counts object members and
 * array elements as it goes: each takes at least a byte of JSON, so more than `maxBytes` of them is too big
 * without building the text. A cycle nests without end, so it is reported as too deep.
 */
function walk(value: unknown, bounds: JsonBounds): 'depth' | 'size' | null {
  const stack: [unknown, number][] = [[value, 1]];
  let entries = 0;
  while (stack.length > 0) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth > bounds.maxDepth) return 'depth';
    const children = Array.isArray(v) ? v : Object.values(v as object).filter((c) => c !== undefined);
    entries += children.length;
    if (entries > bounds.maxBytes) return 'size';
    for (const c of children) stack.push([c, depth + 1]);
  }
  return null;
}

function kib(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

/**
 * A JSON copy of `value` (what JSON.stringify then JSON.parse give back), refused with `InvalidArgumentError`
 * when it nests deeper than `bounds.maxDepth`, serialises to more than `bounds.maxBytes`, or is not JSON
 * (a bigint, a cycle). The copy is what gets kept: later changes to the caller's object do not reach it.
 */
export function boundedJsonCopy(name: string, value: unknown, bounds: JsonBounds): unknown {
  const tooDeep = () =>
    new InvalidArgumentError(`${name}: nested deeper than ${bounds.maxDepth} levels of objects and arrays (the limit), or it contains a cycle`, {
      limit: bounds.maxDepth,
    });
  const tooBig = (size?: number) =>
    new InvalidArgumentError(`${name}: larger than ${kib(bounds.maxBytes)} as JSON (the limit)${size !== undefined ? `, got ${size} bytes` : ''}`, {
      limit: bounds.maxBytes,
      ...(size !== undefined ? { received: size } : {}),
    });
  const before = walk(value, bounds);
  if (before === 'depth') throw tooDeep();
  if (before === 'size') throw tooBig();
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new InvalidArgumentError(`${name}: not JSON (${(err as Error).message})`);
  }
  if (text === undefined) throw new InvalidArgumentError(`${name}: not JSON (got ${typeof value})`);
  const size = Buffer.byteLength(text);
  if (size > bounds.maxBytes) throw tooBig(size);
  const copy: unknown = JSON.parse(text);
  // A toJSON method may have returned something deeper than what was walked.
  if (walk(copy, bounds) === 'depth') throw tooDeep();
  return copy;
}
