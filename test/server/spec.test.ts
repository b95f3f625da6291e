/**
 * The spec and the action table, without a daemon: openapi.json is well formed and lists exactly the
 * table's routes, with the table's request schemas, query and path parameters, statuses (201 for the
 * entries that create) and streams; every entry's action encodes to a request that decodes back to the
 * same action; the validator and the status mapper behave; --listen takes loopback only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorFromJSON, InvalidArgumentError, LedgerError, WorldRuntimeError, WrongStateError } from '../../src/base/errors.js';
import { DaemonFault, faultToError } from '../../src/client/errors.js';
import { ACTION_KINDS, decodeAction, pathParams, ROUTES, requestFor, type WorldAction } from '../../src/protocol/actions.js';
import { DAEMON_FAULT_CODES, parseAmount } from '../../src/protocol/wire.js';
import { jsonSafe } from '../../src/server/convert.js';
import { parseListen } from '../../src/server/listen.js';
import { errorReply, HttpFault, noRoute, resultReply, STATUS_BY_CODE, STATUS_BY_FAULT, tooLarge, unauthorized } from '../../src/server/reply.js';
import { Router } from '../../src/server/router.js';
import { OPENAPI, problems, type Schema, validateBody } from '../../src/server/schema.js';

const SAMPLES: WorldAction[] = [
  { kind: 'world.create', trit: -1, memoryMib: 256, vcpus: 2, metadata: { a: 1 } },
  { kind: 'world.create' },
  { kind: 'world.list' },
  { kind: 'world.get', id: 'w-1' },
  { kind: 'world.destroy', id: 'w-1' },
  { kind: 'world.exec', id: 'w-1', code: 'print(1)', timeoutMs: 500 },
  { kind: 'world.run', id: 'w-1', command: ['ls', '-la'], cwd: 'sub', env: { A: 'b' }, timeoutMs: 10 },
  { kind: 'world.run', id: 'w-1', command: 'echo hi' },
  { kind: 'world.writeFile', id: 'w-1', path: 'dir/a b.txt', data: new Uint8Array([104, 105]) },
  { kind: 'world.readFile', id: 'w-1', path: 'dir/sub/x%y.txt' },
  { kind: 'world.snapshot', id: 'w-1', name: 'pre event' },
  { kind: 'world.snapshot', id: 'w-1' },
  { kind: 'world.branch', id: 'w-1', count: 3, trits: [-1, 0, 1], metadata: { v: 'x' }, sameRandom: true },
  { kind: 'snapshot.list' },
  { kind: 'snapshot.get', id: 's-1' },
  { kind: 'snapshot.destroy', id: 's-1' },
  { kind: 'snapshot.branch', id: 's-1', count: 2 },
  { kind: 'branch', source: 's-1', count: 2, trits: [1, null], sameRandom: false },
  { kind: 'branch', source: 'a world or snapshot id', count: 1, metadata: { v: 'x' } },
  { kind: 'sandbox.create' },
  { kind: 'sandbox.create', snapshotId: 's-1', metadata: { verse: 'nash', trit: -1 } },
  { kind: 'sandbox.snapshot', id: 'w-1', name: 'pre-event' },
  { kind: 'sandbox.execute', id: 'w-1', code: 'x = 1' },
  { kind: 'verse.pushDown', id: 'w-1' },
  {
    kind: 'verse.pushDown',
    id: 'w-1',
    event: 'rain',
    children: [
      { name: 'yes', trit: 1, probability: '0.3' },
      { name: 'no', trit: -1, probability: 0.7 },
    ],
    allowUnbalancedTrits: true,
    snapshotName: 'pre-rain',
  },
  { kind: 'verse.list' },
  { kind: 'verse.get', event: 'e-1' },
  { kind: 'verse.get', event: 'nested/event name' },
  { kind: 'verse.execute', event: 'e-1', code: 'x = 1' },
  { kind: 'verse.execute', event: 'e-1', code: { nash: 'strategy = "selfish"', 'e-1/chaos': 'strategy = "random"' } },
  { kind: 'verse.pullUp', event: 'e-1', outcome: 'optimal' },
  { kind: 'verse.pullUp', event: 'e-1', oracle: 'score', score: 'payoff' },
  { kind: 'ledger.deposit', owner: 'alice', asset: 'usd', amount: '100' },
  { kind: 'ledger.deposit', owner: 'alice', asset: 'usd', amount: '340282366920938463463374607431768211455', verse: 'root' },
  { kind: 'ledger.withdraw', owner: 'alice', asset: 'usd', amount: '1' },
  { kind: 'ledger.transfer', verse: 'e-1/nash', asset: 'usd', from: 'alice', to: 'bob', amount: '5' },
  { kind: 'ledger.pushDown', event: 'e-1', owner: 'alice', asset: 'usd', amount: '40' },
  { kind: 'ledger.pullUp', event: 'e-1', owner: 'alice', asset: 'usd', amount: '40' },
  { kind: 'ledger.balances' },
  { kind: 'ledger.balances', verse: 'e-1/nash', owner: 'alice', asset: 'usd' },
  { kind: 'ledger.verses' },
  { kind: 'ledger.events' },
  { kind: 'ledger.journal' },
  { kind: 'ledger.journal', limit: 10 },
  { kind: 'ledger.check' },
  { kind: 'record.entities', state: 'lost', type: 'sandbox', limit: 5 },
  { kind: 'record.entities' },
  { kind: 'record.branches', limit: 2 },
  { kind: 'record.resolutions' },
  { kind: 'record.metrics', limit: 0 },
  { kind: 'ui.login' },
  { kind: 'ui.login', listen: '127.0.0.1:0' },
  { kind: 'system.doctor' },
  { kind: 'system.health' },
];

const router = new Router(ROUTES);

function decode(action: WorldAction): { action: WorldAction; method: string; template: string } {
  const wire = requestFor(action);
  const url = new URL(wire.path, 'http://x');
  const { route, params } = router.match(wire.method, url.pathname);
  let body: unknown;
  if (route.body === 'json') {
    body = wire.json ?? {};
    if (route.schema) validateBody(body, route.schema);
  }
  const bytes = wire.bytes ?? new Uint8Array();
  return { action: decodeAction(route.kind, { params, query: url.searchParams, body, bytes }), method: route.method, template: route.path };
}

describe('openapi.json', () => {
  it('every $ref resolves and every operation has an id, an x-action and responses', () => {
    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          if (k === '$ref') refs.push(String(x));
          else walk(x);
        }
      }
    };
    walk(OPENAPI);
    for (const r of refs) assert.ok(OPENAPI.components.schemas[r.replace('#/components/schemas/', '')], `unresolved ${r}`);
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries(OPENAPI.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        assert.ok(op.operationId, `${method} ${path} has no operationId`);
        assert.ok(!ids.has(op.operationId), `duplicate operationId ${op.operationId}`);
        ids.add(op.operationId);
        assert.ok(Object.keys(op.responses).length > 0);
        if (path !== '/v1/openapi.json') assert.ok(op['x-action'], `${method} ${path} has no x-action`);
      }
    }
  });

  it('lists exactly the routes of the action table', () => {
    const fromTable = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
    const fromSpec = Object.entries(OPENAPI.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
      .filter((k) => k !== 'GET /v1/openapi.json')
      .sort();
    assert.deepEqual(fromTable, fromSpec);
    assert.equal(new Set(fromTable).size, fromTable.length, 'two entries of the table share a route');
  });

  it('describes each route as its table entry does: action, body, parameters, status, stream', () => {
    for (const r of ROUTES) {
      const where = `${r.method} ${r.path}`;
      const op = OPENAPI.paths[r.path]?.[r.method.toLowerCase()];
      assert.ok(op, where);
      assert.equal(op['x-action'], r.kind, `${where}: x-action`);
      const body = op.requestBody?.content ?? {};
      if (r.body === 'json') assert.equal(body['application/json']?.schema.$ref, `#/components/schemas/${r.schema}`, `${where}: request schema`);
      else assert.equal(r.schema, undefined, `${where}: a schema on a route without a JSON body`);
      assert.equal(r.body === 'bytes', 'application/octet-stream' in body, `${where}: raw body`);
      assert.equal(r.body === 'none', op.requestBody === undefined, `${where}: no body`);
      const documented = (place: string) =>
        (op.parameters ?? [])
          .filter((p) => p.in === place)
          .map((p) => p.name)
          .sort();
      assert.deepEqual(documented('query'), Object.keys(r.query ?? {}).sort(), `${where}: query parameters`);
      assert.deepEqual(documented('path'), pathParams(r.path).sort(), `${where}: path parameters`);
      // An action's fields travel by name: no body field may share a parameter's name.
      const fields = Object.keys(OPENAPI.components.schemas[r.schema ?? '']?.properties ?? {});
      for (const name of [...pathParams(r.path), ...Object.keys(r.query ?? {})]) assert.ok(!fields.includes(name), `${where}: body field ${name}`);
      const success = r.created ? '201' : '200';
      assert.ok(op.responses[success], `${where}: answers ${success}`);
      assert.equal(op.responses[r.created ? '200' : '201'], undefined, `${where}: answers only ${success} on success`);
      assert.equal('text/event-stream' in (op.responses[success]?.content ?? {}), r.streaming === true, `${where}: stream`);
    }
  });

  it('request schemas refuse unknown fields', () => {
    for (const r of ROUTES.filter((x) => x.schema)) {
      const s = OPENAPI.components.schemas[r.schema as string] as Schema;
      assert.equal(s.additionalProperties, false, `${r.schema} must set additionalProperties: false`);
    }
  });
});

describe('the action table', () => {
  it('covers every action kind in the samples', () => {
    assert.deepEqual(new Set(SAMPLES.map((a) => a.kind)), new Set(ACTION_KINDS));
  });

  for (const action of SAMPLES) {
    it(`${action.kind} survives encode → route → decode (${JSON.stringify(action).slice(0, 60)})`, () => {
      const { action: back, method, template } = decode(action);
      assert.deepEqual(back, action);
      assert.equal(OPENAPI.paths[template]?.[method.toLowerCase()]?.['x-action'], action.kind);
    });
  }
});

describe('schema checker', () => {
  const s: Schema = { $ref: '#/components/schemas/BranchRequest' };
  it('names the field, the expectation and what came', () => {
    assert.deepEqual(problems({ count: 2 }, s, 'body'), []);
    assert.deepEqual(problems({ count: 'two' }, s, 'body'), ['body.count: expected an integer from 1 to 1000, got "two"']);
    assert.deepEqual(problems({}, s, 'body'), ['body.count: required field missing']);
    assert.deepEqual(problems({ count: 1, trits: [2] }, s, 'body'), ['body.trits[0]: expected one of -1, 0, 1, null, got 2']);
    assert.deepEqual(problems({ count: 1, x: 1 }, s, 'body'), ['body: unknown field "x" (known: count, trits, metadata, sameRandom)']);
    assert.deepEqual(problems({ command: [] }, { $ref: '#/components/schemas/RunRequest' }, 'body').length, 1);
    assert.throws(() => validateBody({ code: 1 }, 'ExecRequest'), InvalidArgumentError);
  });
});

describe('status mapper', () => {
  it('maps every error code, HTTP faults and unknown throwables', () => {
    assert.equal(errorReply(new WrongStateError('world', 'w-1', 'exec', 'destroyed', ['running'])).status, 409);
    assert.equal(errorReply(new InvalidArgumentError('x')).status, 400);
    assert.equal(errorReply(new HttpFault('METHOD_NOT_ALLOWED', 'no')).status, 405);
    assert.equal(errorReply(unauthorized('no')).status, 401);
    assert.equal(errorReply(unauthorized('no')).headers?.['www-authenticate'], 'Bearer realm="world-runtime"');
    assert.equal(errorReply(tooLarge(1024, 2048)).status, 413);
    assert.equal(errorReply(noRoute('GET', '/x')).status, 404);
    assert.deepEqual(Object.keys(STATUS_BY_FAULT).sort(), [...DAEMON_FAULT_CODES].sort());
    const internal = errorReply(new TypeError('boom'));
    assert.equal(internal.status, 500);
    assert.equal(internal.json.error.code, 'INTERNAL');
    for (const [code, status] of Object.entries(STATUS_BY_CODE)) {
      assert.equal(errorReply(new WorldRuntimeError(code as never, 'm')).status, status, code);
    }
    assert.equal(resultReply('world.create', {}).status, 201);
    assert.equal(resultReply('world.exec', {}).status, 200);
  });

  it('maps a ledger refusal by its reason: state conflicts 409, unknown verse or event 404, the rest 400', () => {
    const status = (reason?: string) => errorReply(new LedgerError('m', reason === undefined ? {} : { reason })).status;
    for (const r of ['INSUFFICIENT_BALANCE', 'COLLAPSED_VERSE', 'EVENT_RESOLVED', 'DUPLICATE_EVENT', 'NO_SCORE']) assert.equal(status(r), 409, r);
    for (const r of ['UNKNOWN_VERSE', 'UNKNOWN_EVENT']) assert.equal(status(r), 404, r);
    for (const r of ['BAD_PROBABILITIES', 'GF3_UNBALANCED', 'NOT_A_PARTITION', 'ROOT_ONLY', 'INVALID_AMOUNT', 'INVALID_ARGUMENT'])
      assert.equal(status(r), 400, r);
    assert.equal(status('CLOSED'), 503);
    assert.equal(status('COMMIT_FAILED'), 500);
    // No reason, or one this version does not know: the code's 409.
    assert.equal(status(), 409);
    assert.equal(status('SOMETHING_NEW'), 409);
    assert.equal(status('toString'), 409);
    assert.equal(resultReply('verse.pushDown', {}).status, 201);
    assert.equal(resultReply('ledger.deposit', {}).status, 200);
  });

  it('a client rebuilds the same error class from the fault body', () => {
    const reply = errorReply(new WrongStateError('world', 'w-1', 'exec', 'destroyed', ['running']));
    const err = faultToError(reply.status, Buffer.from(JSON.stringify(reply.json)));
    assert.ok(err instanceof WrongStateError);
    assert.equal(err.code, 'WRONG_STATE');
    assert.equal(err.details.status, 409);
    assert.deepEqual(errorFromJSON(reply.json.error as never).details.required, ['running']);
  });

  it("a client rebuilds the daemon's own faults, with the same code on the wire", () => {
    for (const fault of [unauthorized('wrong bearer token'), tooLarge(1024), noRoute('GET', '/v2/x'), new HttpFault('METHOD_NOT_ALLOWED', 'no')]) {
      const reply = errorReply(fault);
      assert.equal(reply.json.error.code, fault.code);
      const err = faultToError(reply.status, Buffer.from(JSON.stringify(reply.json)));
      assert.ok(err instanceof DaemonFault, fault.code);
      assert.equal(err.code, fault.code);
      assert.equal(err.details.status, reply.status);
    }
    const internal = faultToError(500, Buffer.from(JSON.stringify(errorReply(new TypeError('boom')).json)));
    assert.ok(internal instanceof DaemonFault);
    assert.equal(internal.code, 'INTERNAL');
  });
});

describe('ledger amounts', () => {
  const deposit = (amount: unknown) => {
    const body = { owner: 'a', asset: 'b', amount };
    validateBody(body, 'LedgerRootRequest');
    return decodeAction('ledger.deposit', { params: {}, query: new URLSearchParams(), body, bytes: new Uint8Array() });
  };
  it('are decimal strings or safe integers, kept as canonical strings', () => {
    assert.deepEqual(deposit('100'), { kind: 'ledger.deposit', owner: 'a', asset: 'b', amount: '100' });
    assert.equal((deposit('007') as { amount: string }).amount, '7');
    assert.equal((deposit(42) as { amount: string }).amount, '42');
    assert.equal((deposit('340282366920938463463374607431768211455') as { amount: string }).amount, '340282366920938463463374607431768211455');
    // 0 and too large pass here: the ledger refuses them (INVALID_AMOUNT, 400) with its own message.
    assert.equal((deposit('0') as { amount: string }).amount, '0');
  });
  it('refuses fractions, signs, exponents, unsafe integers and other types', () => {
    for (const bad of ['1.5', '-1', '+1', '1e3', ' 1', '', '0x10', '1'.repeat(41), 1.5, -1, 2 ** 53, 1e300, null, true, [1]]) {
      assert.throws(() => deposit(bad), InvalidArgumentError, JSON.stringify(bad));
    }
  });
  it('leave as strings: jsonSafe turns every bigint into its decimal text', () => {
    assert.deepEqual(jsonSafe({ a: 1n, b: [2n, { c: 3n }], d: 'x', e: null }), { a: '1', b: ['2', { c: '3' }], d: 'x', e: null });
    assert.equal(parseAmount('0042', 'x'), '42');
  });
});

describe('--listen', () => {
  it('takes loopback addresses', () => {
    assert.deepEqual(parseListen('127.0.0.1:7070'), { host: '127.0.0.1', port: 7070 });
    assert.deepEqual(parseListen('localhost:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen(':8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:9'), { host: '::1', port: 9 });
    assert.deepEqual(parseListen('127.1.2.3:9'), { host: '127.1.2.3', port: 9 });
  });
  it('refuses everything else', () => {
    for (const bad of ['0.0.0.0:1', '10.0.0.1:1', '[::]:1', 'example.com:1', '127.0.0.1', '127.0.0.1:70000', 'x']) {
      assert.throws(() => parseListen(bad), InvalidArgumentError, bad);
    }
  });
});
