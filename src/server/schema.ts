/**
 * @module
 * A small JSON Schema checker for the subset `openapi.json` uses (type, properties, required,
 * additionalProperties, items, enum, minimum/maximum, minLength/maxLength, minItems/maxItems, oneOf, $ref).
 * The daemon checks request bodies with it; the tests check responses with it. Unknown fields are refused
 * wherever a schema says `additionalProperties: false`.
 */
import { InvalidArgumentError } from '../base/errors.js';
import spec from './openapi.json' with { type: 'json' };

export interface Schema {
  $ref?: string;
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  oneOf?: Schema[];
  description?: string;
  [other: string]: unknown;
}

/** The parts of an OpenAPI 3.1 document this module reads. */
export interface OpenApiDoc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: { schemas: Record<string, Schema> };
}

export interface OpenApiOperation {
  operationId: string;
  summary?: string;
  'x-action'?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema }[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Schema }> }>;
}

/** The spec, as shipped beside this file (and served at `GET /v1/openapi.json`). */
export const OPENAPI = spec as unknown as OpenApiDoc;

function resolveRef(ref: string, doc: OpenApiDoc): Schema {
  const prefix = '#/components/schemas/';
  const target = ref.startsWith(prefix) ? doc.components.schemas[ref.slice(prefix.length)] : undefined;
  if (!target) throw new Error(`openapi.json: unresolvable $ref ${ref}`);
  return target;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function matchesType(v: unknown, t: string): boolean {
  const actual = typeOf(v);
  if (t === 'number') return actual === 'number' || actual === 'integer';
  return actual === t;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  if (s === undefined) return String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Every way `value` breaks `schema`, each as `where: what was expected, got what`. */
export function problems(value: unknown, schema: Schema, where = 'value', doc: OpenApiDoc = OPENAPI): string[] {
  const out: string[] = [];
  check(value, schema, where, doc, out);
  return out;
}

function check(v: unknown, s: Schema, where: string, doc: OpenApiDoc, out: string[]): void {
  if (s.$ref) {
    check(v, resolveRef(s.$ref, doc), where, doc, out);
    return;
  }
  if (s.oneOf) {
    const fits = s.oneOf.filter((alt) => problems(v, alt, where, doc).length === 0).length;
    if (fits !== 1) out.push(`${where}: expected ${s.oneOf.map((alt) => describe(alt, doc)).join(' or ')}, got ${show(v)}`);
    return;
  }
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => matchesType(v, t))) {
      out.push(`${where}: expected ${describe(s, doc)}, got ${show(v)}`);
      return;
    }
  }
  if (s.enum && !s.enum.some((e) => e === v)) out.push(`${where}: expected one of ${s.enum.map(show).join(', ')}, got ${show(v)}`);
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) out.push(`${where}: expected ${describe(s, doc)}, got ${v}`);
    else if (s.maximum !== undefined && v > s.maximum) out.push(`${where}: expected ${describe(s, doc)}, got ${v}`);
  }
  if (typeof v === 'string') {
    if (s.minLength !== undefined && v.length < s.minLength) out.push(`${where}: expected at least ${s.minLength} characters, got ${show(v)}`);
    if (s.maxLength !== undefined && v.length > s.maxLength) out.push(`${where}: expected at most ${s.maxLength} characters, got ${v.length}`);
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) out.push(`${where}: expected at least ${s.minItems} items, got ${v.length}`);
    if (s.maxItems !== undefined && v.length > s.maxItems) out.push(`${where}: expected at most ${s.maxItems} items, got ${v.length}`);
    if (s.items) {
      for (const [i, item] of v.entries()) check(item, s.items, `${where}[${i}]`, doc, out);
    }
  }
  if (typeOf(v) === 'object') {
    const obj = v as Record<string, unknown>;
    const props = s.properties ?? {};
    for (const key of s.required ?? []) {
      if (!(key in obj)) out.push(`${where}.${key}: required field missing`);
    }
    for (const [key, value] of Object.entries(obj)) {
      const sub = props[key];
      if (sub) check(value, sub, `${where}.${key}`, doc, out);
      else if (s.additionalProperties === false) {
        const known = Object.keys(props);
        out.push(`${where}: unknown field ${show(key)} (known: ${known.length ? known.join(', ') : 'none'})`);
      } else if (typeof s.additionalProperties === 'object') check(value, s.additionalProperties, `${where}.${key}`, doc, out);
    }
  }
}

/** A short English description of what a schema accepts, for error messages. */
function describe(s: Schema, doc: OpenApiDoc): string {
  if (s.$ref) return describe(resolveRef(s.$ref, doc), doc);
  if (s.oneOf) return s.oneOf.map((alt) => describe(alt, doc)).join(' or ');
  const types = s.type === undefined ? ['any value'] : Array.isArray(s.type) ? s.type : [s.type];
  const names = types.map((t) =>
    t === 'integer' ? 'an integer' : t === 'array' ? 'an array' : t === 'object' ? 'an object' : t === 'null' ? 'null' : `a ${t}`,
  );
  let text = names.join(' or ');
  if (s.minimum !== undefined && s.maximum !== undefined) text += ` from ${s.minimum} to ${s.maximum}`;
  else if (s.minimum !== undefined) text += ` ≥ ${s.minimum}`;
  else if (s.maximum !== undefined) text += ` ≤ ${s.maximum}`;
  if (s.type === 'array' && s.items) text += ` of ${describe(s.items, doc).replace(/^an? /, '')}s`;
  return text;
}

/** At most this many problems are named in one error: a body with a million bad fields gets a short answer. */
const PROBLEMS_SHOWN = 20;

/**
 * Check a request body against a named component schema; throw `InvalidArgumentError` naming its problems
 * (the first {@link PROBLEMS_SHOWN}, and how many more). The body's depth is bounded before this (json-body.ts),
 * which bounds the recursion here.
 */
export function validateBody(value: unknown, schemaName: string): void {
  const found = problems(value, { $ref: `#/components/schemas/${schemaName}` }, 'body');
  if (found.length === 0) return;
  const shown = found.slice(0, PROBLEMS_SHOWN);
  const more = found.length - shown.length;
  throw new InvalidArgumentError(`${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`, { problems: shown, ...(more > 0 ? { more } : {}) });
}
