/**
 * @module
 * The action table: every thing a client can ask of the daemon, once. Each entry is keyed by its action
 * kind and names its route (method, OpenAPI path template, body kind, request schema, query parameters),
 * how the request decodes into the action and the action encodes back into the request, what it answers
 * with (its result type, and whether success made something new or can stream). Everything else is
 * derived from it: the `WorldAction` union, `ACTION_KINDS`, the daemon's router and its 201s, the client's
 * requests, and the check that `openapi.json` lists exactly these routes (test/server/spec.test.ts).
 *
 * An action's fields travel by name. A path parameter `{id}` carries the field `id`; each query parameter
 * the route lists carries the field of its name; on a JSON route the other fields are the body's fields;
 * on a bytes route the field `data` is the body. An entry's `decode`/`encode` only adjust where the action
 * and the wire differ (snake_case names, canonical amounts, metadata bounds). The JSON body has been held
 * to the route's schema before `decode` sees it: request schemas refuse unknown fields, so copying the
 * body's fields copies only known ones.
 *
 * Ledger amounts travel as canonical decimal strings (`'100'`), never as numbers (wire.ts `parseAmount`).
 */
import { InvalidArgumentError } from '../base/errors.js';
import { ENTITY_STATES, ENTITY_TYPES, type EntityState, type EntityType, type Trit } from '../base/types.js';
import type {
  BalanceInfo,
  BranchRow,
  DestroyReply,
  DoctorReply,
  EntityRow,
  ExecReply,
  HealthReply,
  JournalInfo,
  LedgerCheckReply,
  LedgerEventInfo,
  LedgerOpReply,
  LedgerVerseInfo,
  MetricsReply,
  PullUpReply,
  PushDownReply,
  ResolutionRow,
  RunReply,
  SnapshotInfo,
  UiLoginReply,
  VerseEventInfo,
  VerseExecReply,
  WorldInfo,
} from './results.js';
import { type BodyKind, type HttpMethod, int, metadataField, oneOf, parseAmount, type QueryParser, type RouteInput, text, type WireRequest } from './wire.js';

/** An action's fields as they travel: path parameters, query parameters and body fields by name. */
export type WireFields = Record<string, unknown>;

/** One entry of the table, for an action with fields `F` (its `kind` aside) that answers `R`. */
export interface ActionSpec<F> {
  method: HttpMethod;
  /** OpenAPI path template. `{name}` is a path parameter; a trailing `{path}` takes the rest, slashes included. */
  path: string;
  body: BodyKind;
  /** JSON routes: the request body's schema, by name in openapi.json `components.schemas`. */
  schema?: string;
  /** The query parameters the route takes, each with its parser; any other is refused. */
  query?: Readonly<Record<string, QueryParser>>;
  /** Success makes something new (the daemon answers 201 rather than 200). */
  created?: boolean;
  /** Can stream its output as server-sent events while it runs (exec, run). */
  streaming?: boolean;
  /** The wire's fields into the action's. @default the same fields */
  decode?(wire: WireFields): F;
  /** The action's fields into the wire's (the inverse of `decode`). @default the same fields */
  encode?(fields: F): WireFields;
}

declare const answers: unique symbol;

/** An entry with its result type attached (a type only: nothing of it exists at run time). */
export type ActionEntry<F, R> = ActionSpec<F> & { readonly [answers]?: R };

/** An entry of the table: the action's fields `F`, its result `R`, its route. */
function action<F extends object, R>(spec: ActionSpec<F>): ActionEntry<F, R> {
  return spec;
}

/** Options shared by the ways of branching (from a world, from a snapshot, from either). */
export interface BranchFields {
  count: number;
  trits?: (Trit | null)[];
  metadata?: Record<string, unknown>;
  sameRandom?: boolean;
}

/** One child verse of a push-down as a request names it. */
export interface VerseChildRequest {
  name: string;
  trit: Trit;
  /** Relative to the parent verse, e.g. `'0.45'`; a push-down's children sum to exactly 1. */
  probability: string | number;
}

/** The fields with `metadata` held to its bounds (wire.ts `metadataField`). */
function withMetadata<F>(wire: WireFields): F {
  const { metadata, ...rest } = wire;
  return { ...rest, ...metadataField(metadata) } as F;
}

/** The fields with `amount` made canonical (wire.ts `parseAmount`). */
function withAmount<F>(wire: WireFields): F {
  return { ...wire, amount: parseAmount(wire.amount, 'body.amount') } as F;
}

const LIMIT = int(1, 100_000);

export const ACTIONS = {
  // Worlds
  'world.list': action<object, { worlds: WorldInfo[] }>({ method: 'GET', path: '/v1/worlds', body: 'none' }),
  'world.create': action<{ trit?: Trit | null; memoryMib?: number; vcpus?: number; diskMib?: number; metadata?: Record<string, unknown> }, WorldInfo>({
    method: 'POST',
    path: '/v1/worlds',
    body: 'json',
    schema: 'CreateWorldRequest',
    created: true,
    decode: withMetadata,
  }),
  'world.get': action<{ id: string }, WorldInfo>({ method: 'GET', path: '/v1/worlds/{id}', body: 'none' }),
  'world.destroy': action<{ id: string }, DestroyReply>({ method: 'DELETE', path: '/v1/worlds/{id}', body: 'none' }),
  'world.exec': action<{ id: string; code: string; timeoutMs?: number }, ExecReply>({
    method: 'POST',
    path: '/v1/worlds/{id}/exec',
    body: 'json',
    schema: 'ExecRequest',
    streaming: true,
  }),
  'world.run': action<{ id: string; command: string | string[]; cwd?: string; env?: Record<string, string>; timeoutMs?: number }, RunReply>({
    method: 'POST',
    path: '/v1/worlds/{id}/run',
    body: 'json',
    schema: 'RunRequest',
    streaming: true,
  }),
  'world.writeFile': action<{ id: string; path: string; data: Uint8Array }, { path: string; bytes: number }>({
    method: 'PUT',
    path: '/v1/worlds/{id}/files/{path}',
    body: 'bytes',
  }),
  'world.readFile': action<{ id: string; path: string }, Uint8Array>({ method: 'GET', path: '/v1/worlds/{id}/files/{path}', body: 'none' }),
  'world.snapshot': action<{ id: string; name?: string }, SnapshotInfo>({
    method: 'POST',
    path: '/v1/worlds/{id}/snapshots',
    body: 'json',
    schema: 'SnapshotRequest',
    created: true,
  }),
  'world.branch': action<{ id: string } & BranchFields, { worlds: WorldInfo[] }>({
    method: 'POST',
    path: '/v1/worlds/{id}/branch',
    body: 'json',
    schema: 'BranchRequest',
    created: true,
    decode: withMetadata,
  }),

  // Snapshots
  'snapshot.list': action<object, { snapshots: SnapshotInfo[] }>({ method: 'GET', path: '/v1/snapshots', body: 'none' }),
  'snapshot.get': action<{ id: string }, SnapshotInfo>({ method: 'GET', path: '/v1/snapshots/{id}', body: 'none' }),
  'snapshot.destroy': action<{ id: string }, DestroyReply>({ method: 'DELETE', path: '/v1/snapshots/{id}', body: 'none' }),
  'snapshot.branch': action<{ id: string } & BranchFields, { worlds: WorldInfo[] }>({
    method: 'POST',
    path: '/v1/snapshots/{id}/branch',
    body: 'json',
    schema: 'BranchRequest',
    created: true,
    decode: withMetadata,
  }),

  // Branching from either: the daemon finds what `source` names by looking it up, a world first.
  // `world.branch` and `snapshot.branch` do the same for an id of the kind their path names.
  branch: action<{ source: string } & BranchFields, { worlds: WorldInfo[] }>({
    method: 'POST',
    path: '/v1/branch',
    body: 'json',
    schema: 'BranchFromRequest',
    created: true,
    decode: withMetadata,
  }),

  // The Morph-style calls of the original world-runtime spec (POST /v1/sandboxes, .../snapshots,
  // .../execute), with its snake_case field names.
  'sandbox.create': action<{ snapshotId?: string; metadata?: Record<string, unknown> }, WorldInfo>({
    method: 'POST',
    path: '/v1/sandboxes',
    body: 'json',
    schema: 'SandboxCreateRequest',
    created: true,
    decode: ({ snapshot_id, metadata }) => ({ ...(snapshot_id !== undefined ? { snapshotId: snapshot_id as string } : {}), ...metadataField(metadata) }),
    encode: ({ snapshotId, metadata }) => ({ snapshot_id: snapshotId, metadata }),
  }),
  'sandbox.snapshot': action<{ id: string; name?: string }, SnapshotInfo & { snapshot_id: string }>({
    method: 'POST',
    path: '/v1/sandboxes/{id}/snapshots',
    body: 'json',
    schema: 'SandboxSnapshotRequest',
    created: true,
  }),
  'sandbox.execute': action<{ id: string; code: string }, ExecReply>({
    method: 'POST',
    path: '/v1/sandboxes/{id}/execute',
    body: 'json',
    schema: 'SandboxExecuteRequest',
  }),

  // World-level verses: a push-down snapshots a world into one verse-world per child; a pull-up resolves.
  'verse.pushDown': action<
    { id: string; event?: string; children?: VerseChildRequest[]; allowUnbalancedTrits?: boolean; snapshotName?: string },
    PushDownReply
  >({
    method: 'POST',
    path: '/v1/worlds/{id}/push-down',
    body: 'json',
    schema: 'PushDownRequest',
    created: true,
  }),
  'verse.list': action<object, { events: VerseEventInfo[] }>({ method: 'GET', path: '/v1/verses', body: 'none' }),
  'verse.get': action<{ event: string }, VerseEventInfo>({ method: 'GET', path: '/v1/verses/{event}', body: 'none' }),
  'verse.execute': action<{ event: string; code: string | Record<string, string> }, VerseExecReply>({
    method: 'POST',
    path: '/v1/verses/{event}/execute',
    body: 'json',
    schema: 'VerseExecuteRequest',
  }),
  'verse.pullUp': action<{ event: string; outcome?: string; oracle?: 'manual' | 'score'; score?: string }, PullUpReply>({
    method: 'POST',
    path: '/v1/verses/{event}/pull-up',
    body: 'json',
    schema: 'PullUpRequest',
    decode: (wire) => {
      if (wire.outcome !== undefined && wire.score !== undefined) {
        throw new InvalidArgumentError('body: give `outcome` (the manual oracle) or `score` (the score oracle), not both');
      }
      return wire as { event: string };
    },
  }),

  // The Multiverse Finance ledger (amounts: decimal strings)
  'ledger.deposit': action<{ owner: string; asset: string; amount: string; verse?: string }, LedgerOpReply>({
    method: 'POST',
    path: '/v1/ledger/deposit',
    body: 'json',
    schema: 'LedgerRootRequest',
    decode: withAmount,
  }),
  'ledger.withdraw': action<{ owner: string; asset: string; amount: string; verse?: string }, LedgerOpReply>({
    method: 'POST',
    path: '/v1/ledger/withdraw',
    body: 'json',
    schema: 'LedgerRootRequest',
    decode: withAmount,
  }),
  'ledger.transfer': action<{ verse: string; asset: string; from: string; to: string; amount: string }, LedgerOpReply>({
    method: 'POST',
    path: '/v1/ledger/transfer',
    body: 'json',
    schema: 'LedgerTransferRequest',
    decode: withAmount,
  }),
  'ledger.pushDown': action<{ event: string; owner: string; asset: string; amount: string }, LedgerOpReply>({
    method: 'POST',
    path: '/v1/ledger/push-down',
    body: 'json',
    schema: 'LedgerEventRequest',
    decode: withAmount,
  }),
  'ledger.pullUp': action<{ event: string; owner: string; asset: string; amount: string }, LedgerOpReply>({
    method: 'POST',
    path: '/v1/ledger/pull-up',
    body: 'json',
    schema: 'LedgerEventRequest',
    decode: withAmount,
  }),
  'ledger.balances': action<{ verse?: string; owner?: string; asset?: string }, { balances: BalanceInfo[] }>({
    method: 'GET',
    path: '/v1/ledger/balances',
    body: 'none',
    query: { verse: text, owner: text, asset: text },
  }),
  'ledger.verses': action<object, { verses: LedgerVerseInfo[] }>({ method: 'GET', path: '/v1/ledger/verses', body: 'none' }),
  'ledger.events': action<object, { events: LedgerEventInfo[] }>({ method: 'GET', path: '/v1/ledger/events', body: 'none' }),
  'ledger.journal': action<{ limit?: number }, { journal: JournalInfo[] }>({
    method: 'GET',
    path: '/v1/ledger/journal',
    body: 'none',
    query: { limit: int(1, 1_000_000) },
  }),
  'ledger.check': action<object, LedgerCheckReply>({ method: 'GET', path: '/v1/ledger/check', body: 'none' }),

  // The DuckDB record
  'record.entities': action<{ state?: EntityState; type?: EntityType; limit?: number }, { entities: EntityRow[] }>({
    method: 'GET',
    path: '/v1/entities',
    body: 'none',
    query: { state: oneOf(ENTITY_STATES), type: oneOf(ENTITY_TYPES), limit: LIMIT },
  }),
  'record.branches': action<{ limit?: number }, { branches: BranchRow[] }>({ method: 'GET', path: '/v1/branches', body: 'none', query: { limit: LIMIT } }),
  'record.resolutions': action<{ limit?: number }, { resolutions: ResolutionRow[] }>({
    method: 'GET',
    path: '/v1/resolutions',
    body: 'none',
    query: { limit: LIMIT },
  }),
  'record.metrics': action<{ limit?: number }, MetricsReply>({ method: 'GET', path: '/v1/metrics', body: 'none', query: { limit: int(0, 100_000) } }),

  // The web view: a one-time login link, the TCP listener started (loopback, `listen` or any free port) if
  // the daemon has none.
  'ui.login': action<{ listen?: string }, UiLoginReply>({
    method: 'POST',
    path: '/v1/ui/login',
    body: 'json',
    schema: 'UiLoginRequest',
    created: true,
  }),

  // The machine and the daemon
  'system.doctor': action<object, DoctorReply>({ method: 'GET', path: '/v1/doctor', body: 'none' }),
  'system.health': action<object, HealthReply>({ method: 'GET', path: '/v1/health', body: 'none' }),
};

type Table = typeof ACTIONS;

export type ActionKind = keyof Table;

type FieldsOf<E> = E extends ActionEntry<infer F, unknown> ? F : never;

/** The action of kind `K`: its `kind` and its fields. */
export type ActionOf<K extends ActionKind> = { kind: K } & FieldsOf<Table[K]>;

/** Every action a client can send: the closed union of the table's entries. */
export type WorldAction = { [K in ActionKind]: ActionOf<K> }[ActionKind];

/** What the action of kind `K` answers with (`world.readFile`: raw bytes). */
export type ResultOf<K extends ActionKind> = Table[K] extends { readonly [answers]?: infer R } ? R : never;

/** Every action kind, in table order. */
export const ACTION_KINDS = Object.keys(ACTIONS) as ActionKind[];

/** An entry with its kind, for code that walks the table (the router, the spec check). */
export type Route = ActionSpec<WireFields> & { kind: ActionKind };

/** The table as a list of routes, in table order. */
export const ROUTES: readonly Route[] = ACTION_KINDS.map((kind) => ({ ...(ACTIONS[kind] as ActionSpec<WireFields>), kind }));

/** The names of a path template's parameters, in order: `/v1/worlds/{id}/files/{path}` → id, path. */
export function pathParams(template: string): string[] {
  return [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string);
}

function entryOf(kind: ActionKind): ActionSpec<WireFields> {
  return ACTIONS[kind] as ActionSpec<WireFields>;
}

/**
 * The action a matched request carries: its body's fields (a bytes route: the body as `data`), its parsed
 * query parameters and its path parameters, through the entry's `decode`. Throws `InvalidArgumentError`
 * for a bad query parameter or field.
 */
export function decodeAction(kind: ActionKind, input: RouteInput): WorldAction {
  const entry = entryOf(kind);
  const query: WireFields = {};
  for (const [name, parse] of Object.entries(entry.query ?? {})) {
    const raw = input.query.get(name);
    if (raw !== null) query[name] = parse(raw, name);
  }
  const params: WireFields = {};
  for (const name of pathParams(entry.path)) {
    const v = input.params[name];
    if (v === undefined || v === '') throw new InvalidArgumentError(`path parameter ${name} is empty`);
    params[name] = v;
  }
  // Spread, not assigned: a body's own "__proto__" field stays a field (the schema refuses it anyway).
  const body: WireFields = entry.body === 'json' ? { ...(input.body as object) } : entry.body === 'bytes' ? { data: input.bytes } : {};
  const wire: WireFields = { ...body, ...query, ...params };
  return { ...(entry.decode ? entry.decode(wire) : wire), kind } as WorldAction;
}

const e = encodeURIComponent;

/**
 * The HTTP request that carries `action`: the inverse of `decodeAction` (a test checks that decoding it
 * gives back the action, for every entry).
 */
export function requestFor<K extends ActionKind>(action: ActionOf<K>): WireRequest {
  const entry = entryOf(action.kind);
  const { kind: _kind, ...fields } = action as WireFields & { kind: ActionKind };
  const wire = entry.encode ? entry.encode(fields) : fields;
  const rest: WireFields = {};
  for (const [k, v] of Object.entries(wire)) if (v !== undefined) rest[k] = v;

  // A trailing {path} keeps its slashes: each segment is encoded on its own.
  const path = entry.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
    const v = String(rest[name]);
    delete rest[name];
    return name === 'path' ? v.split('/').map(e).join('/') : e(v);
  });
  const q = new URLSearchParams();
  for (const name of Object.keys(entry.query ?? {})) {
    if (rest[name] !== undefined) q.set(name, String(rest[name]));
    delete rest[name];
  }
  const query = q.toString();
  const request: WireRequest = { method: entry.method, path: query ? `${path}?${query}` : path };
  if (entry.body === 'json') request.json = rest;
  if (entry.body === 'bytes') request.bytes = rest.data as Uint8Array;
  return request;
}

/** Whether success of `kind` makes something new. */
export function isCreating(kind: ActionKind): boolean {
  return entryOf(kind).created === true;
}

/** Whether `kind` can stream its output. */
export function isStreaming(kind: ActionKind): boolean {
  return entryOf(kind).streaming === true;
}
