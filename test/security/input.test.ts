/**
 * Input that cannot hurt: the attacks a hostile tenant of the daemon (or a careless library caller) would
 * try, each asserting the defended behaviour. A real daemon on a temp home over its unix socket, and the
 * library on a runtime of its own.
 *
 * - numbers out of range (timeoutMs 2^31 or 1e300, which Node's timers clamp to 1 ms) are refused with 400;
 * - JSON nested thousands deep (or just too big) is refused before any world is made, and the daemon keeps
 *   answering everyone;
 * - a burst of parallel creates, branches and push-downs never takes the daemon past --max-worlds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InvalidArgumentError, WorldRuntime } from '../../src/index.js';
import type { World } from '../../src/index.js';
import { tempHome as libraryHome } from '../fixtures/runtime.js';
import { type Answer, call, conforms, removeHome, type Spawned, startDaemon, stopAll, type Target } from '../server/helpers.js';

const MAX_WORLDS = 6;

/** `{"a":{"a":...{"a":1}}}`, `levels` objects deep, built without recursion. */
function nested(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = { a: 1 };
  for (let i = 1; i < levels; i++) v = { a: v };
  return v;
}

/** The same as raw JSON text, for depths JSON.stringify itself cannot reach. */
function nestedText(levels: number): string {
  return `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}

function assertRefused(a: Answer, pattern: RegExp, what: string): void {
  assert.equal(a.status, 400, `${what}: expected 400, got ${a.status}: ${a.text.slice(0, 300)}`);
  assert.equal(a.json.error.code, 'INVALID_ARGUMENT', what);
  assert.match(a.json.error.message, pattern, what);
}

async function liveIds(t: Target): Promise<string[]> {
  const r = await call(t, 'GET', '/v1/worlds');
  assert.equal(r.status, 200, `GET /v1/worlds answered ${r.status}: ${r.text.slice(0, 300)}`);
  conforms(r, 'GET', '/v1/worlds');
  return (r.json.worlds as { id: string }[]).map((w) => w.id).sort();
}

describe('hostile HTTP clients', () => {
  let d: Spawned;
  let t: Target;
  let world: string;
  let snapshot: string;

  before(async () => {
    d = await startDaemon({ args: ['--max-worlds', String(MAX_WORLDS)] });
    t = { socket: d.socket };
    world = (await call(t, 'POST', '/v1/worlds', { json: {} })).json.id;
    snapshot = (await call(t, 'POST', `/v1/worlds/${world}/snapshots`, { json: { name: 'base' } })).json.id;
  });
  after(async () => {
    await stopAll();
    removeHome(d.home);
  });

  it('numbers out of range are refused with 400 naming the option, the range and the value', async () => {
    // 2^31 ms is past what a Node timer holds: it would fire after 1 ms and report a timeout.
    for (const timeoutMs of [2147483648, 1e300, 86_400_001, 0, -5]) {
      const exec = await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'x = 1', timeoutMs } });
      assertRefused(exec, /timeoutMs.*1 to 86400000.*got/, `exec timeoutMs ${timeoutMs}`);
      assert.ok(exec.json.error.message.includes(String(timeoutMs)), exec.json.error.message);
      conforms(exec, 'POST', '/v1/worlds/{id}/exec');
      const run = await call(t, 'POST', `/v1/worlds/${world}/run`, { json: { command: 'true', timeoutMs } });
      assertRefused(run, /timeoutMs.*1 to 86400000.*got/, `run timeoutMs ${timeoutMs}`);
    }
    // The top of the range is a real 24 h: the code runs to the end rather than being cut after 1 ms.
    const ok = await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'import time; time.sleep(0.05); 7', timeoutMs: 86_400_000 } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.error, null);
    assert.equal(ok.json.value, '7');
    const ran = await call(t, 'POST', `/v1/worlds/${world}/run`, { json: { command: 'sleep 0.05; echo done', timeoutMs: 86_400_000 } });
    assert.equal(ran.status, 200, ran.text);
    assert.equal(ran.json.timedOut, false);
    assert.equal(ran.json.stdout, 'done\n');

    // The other numbers a client sends, each at its first value past the range.
    const before = await liveIds(t);
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/v1/worlds', { memoryMib: 1048577 }, /memoryMib.*1 to 1048576.*1048577/],
      ['POST', '/v1/worlds', { memoryMib: 0.5 }, /memoryMib.*1 to 1048576.*0\.5/],
      ['POST', '/v1/worlds', { vcpus: 257 }, /vcpus.*1 to 256.*257/],
      ['POST', `/v1/worlds/${world}/branch`, { count: 1001 }, /count.*1 to 1000.*1001/],
      ['POST', `/v1/snapshots/${snapshot}/branch`, { count: 0 }, /count.*1 to 1000.*0/],
    ];
    for (const [method, path, json, pattern] of cases) assertRefused(await call(t, method, path, { json }), pattern, `${path} ${JSON.stringify(json)}`);
    for (const [path, bad] of [
      ['/v1/entities?limit=100001', '100001'],
      ['/v1/branches?limit=0', '0'],
      ['/v1/metrics?limit=1e3', '1e3'],
      ['/v1/ledger/journal?limit=99999999999999999999', '99999999999999999999'],
    ] as const) {
      assertRefused(await call(t, 'GET', path), new RegExp(`limit.*from \\d+ to \\d+.*${bad}`), path);
    }
    assert.deepEqual(await liveIds(t), before, 'nothing was created');
    assert.equal((await call(t, 'GET', `/v1/worlds/${world}`)).json.state, 'running');
  });

  it('JSON nested thousands deep, or too big, is refused before any world is made; the daemon keeps answering', async () => {
    const before = await liveIds(t);
    const snapshotsBefore = (await call(t, 'GET', '/v1/snapshots')).json.snapshots.length;
    // The record is written behind, and every read of it flushes first: this sees each world made so far.
    const entitiesBefore = (await call(t, 'GET', '/v1/entities?limit=100000')).json.entities;

    const deep = nestedText(5000);
    const bodies: [string, string, string][] = [
      ['POST', '/v1/worlds', `{"metadata":${deep}}`],
      ['POST', '/v1/sandboxes', `{"metadata":${deep}}`],
      ['POST', '/v1/sandboxes', `{"snapshot_id":"${snapshot}","metadata":${deep}}`],
      ['POST', `/v1/worlds/${world}/branch`, `{"count":1,"metadata":${deep}}`],
      ['POST', `/v1/snapshots/${snapshot}/branch`, `{"count":1,"metadata":${deep}}`],
      ['POST', `/v1/worlds/${world}/push-down`, `{"event":"deep","children":${'['.repeat(5000)}${']'.repeat(5000)}}`],
      ['POST', `/v1/worlds/${world}/exec`, `{"code":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
      ['POST', '/v1/ledger/deposit', `{"owner":"a","asset":"b","amount":${deep}}`],
      // Not even valid JSON: refused for its depth before the parser spends a second and 300 MB on it.
      ['POST', `/v1/worlds/${world}/run`, '['.repeat(4 * 1024 * 1024)],
    ];
    for (const [method, path, body] of bodies) {
      const a = await call(t, method, path, { body, headers: { 'content-type': 'application/json' } });
      assertRefused(a, /nested deeper than 64 levels/, `${path} ${body.slice(0, 40)}`);
    }

    // Within what a body may hold, but past what metadata may: 33 levels, or 64 KiB.
    for (const [path, extra] of [
      ['/v1/worlds', {}],
      ['/v1/sandboxes', {}],
      ['/v1/sandboxes', { snapshot_id: snapshot }],
      [`/v1/worlds/${world}/branch`, { count: 1 }],
      [`/v1/snapshots/${snapshot}/branch`, { count: 1 }],
    ] as const) {
      assertRefused(await call(t, 'POST', path, { json: { ...extra, metadata: nested(33) } }), /metadata.*deeper than 32 levels/, `${path} 33 levels`);
      const big = { ...extra, metadata: { blob: 'x'.repeat(64 * 1024) } };
      assertRefused(await call(t, 'POST', path, { json: big }), /metadata.*64 KiB/, `${path} 64 KiB`);
    }
    // Brackets inside strings are text, not nesting.
    const text = await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: `s = "${'['.repeat(1000)}\\"${'{'.repeat(1000)}"; len(s)` } });
    assert.equal(text.status, 200, text.text.slice(0, 300));
    assert.equal(text.json.value, '2001');
    // The limits themselves are fine: 32 levels make a world.
    const ok = await call(t, 'POST', `/v1/worlds/${world}/branch`, { json: { count: 1, metadata: nested(32) } });
    assert.equal(ok.status, 201, ok.text.slice(0, 300));
    await call(t, 'DELETE', `/v1/worlds/${ok.json.worlds[0].id}`);

    // Nothing was made, and everyone is still answered.
    assert.deepEqual(await liveIds(t), before, 'no world was created');
    assert.equal((await call(t, 'GET', '/v1/snapshots')).json.snapshots.length, snapshotsBefore, 'no snapshot was created');
    assert.equal((await call(t, 'GET', '/v1/verses')).json.events.length, 0, 'no push-down happened');
    assert.equal((await call(t, 'GET', '/v1/ledger/balances')).json.balances.length, 0, 'no deposit happened');
    const entitiesAfter = (await call(t, 'GET', '/v1/entities?limit=100000')).json.entities as { entityId: string }[];
    const made = entitiesAfter.map((e) => e.entityId).filter((id) => !(entitiesBefore as { entityId: string }[]).some((e) => e.entityId === id));
    assert.deepEqual(made, [ok.json.worlds[0].id], 'the record shows only the one world made at the limit');
    assert.equal((await call(t, 'GET', '/v1/health')).status, 200);
  });

  it(`a burst of parallel creates, branches and push-downs never passes --max-worlds ${MAX_WORLDS}`, async () => {
    for (const id of await liveIds(t)) await call(t, 'DELETE', `/v1/worlds/${id}`);
    const source = (await call(t, 'POST', '/v1/worlds', { json: {} })).json.id as string;
    const src = (await call(t, 'POST', `/v1/worlds/${source}/snapshots`, { json: {} })).json.id as string;
    // A request refused after it took its places (one trit for four worlds) gives them back.
    const refused = await call(t, 'POST', `/v1/worlds/${source}/branch`, { json: { count: 4, trits: [1] } });
    assertRefused(refused, /trits/, 'branch with too few trits');

    let most = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const h = await call(t, 'GET', '/v1/health');
        most = Math.max(most, h.json.worlds as number);
      }
    })();

    // Everything fired at once, as a hostile client would.
    const requests: [string, unknown, number][] = [
      ...Array.from({ length: 10 }, () => ['/v1/worlds', {}, 1] as [string, unknown, number]),
      ...Array.from({ length: 10 }, () => [`/v1/worlds/${source}/branch`, { count: 1 }, 1] as [string, unknown, number]),
      ...Array.from({ length: 3 }, () => [`/v1/snapshots/${src}/branch`, { count: 1 }, 1] as [string, unknown, number]),
      ...Array.from({ length: 2 }, () => ['/v1/sandboxes', {}, 1] as [string, unknown, number]),
      ...Array.from({ length: 2 }, () => [`/v1/worlds/${source}/push-down`, {}, 3] as [string, unknown, number]),
    ];
    const answers = await Promise.all(requests.map(([path, json]) => call(t, 'POST', path, { json })));
    polling = false;
    await poller;

    let made = 0;
    for (const [i, a] of answers.entries()) {
      const [path, , worlds] = requests[i] as [string, unknown, number];
      if (a.status === 201) made += worlds;
      else {
        assert.equal(a.status, 503, `${path}: expected 201 or 503, got ${a.status}: ${a.text.slice(0, 300)}`);
        assert.equal(a.json.error.code, 'CAPACITY');
        assert.match(a.json.error.message, /--max-worlds/);
      }
    }
    const live = await liveIds(t);
    assert.ok(most <= MAX_WORLDS, `${most} live worlds at once, past the limit of ${MAX_WORLDS}`);
    assert.ok(live.length <= MAX_WORLDS, `${live.length} live worlds after the burst, past the limit of ${MAX_WORLDS}`);
    assert.equal(live.length, 1 + made, 'every 201 made its worlds and every 503 made none');
    assert.ok(made >= MAX_WORLDS - 3, `the burst filled the daemon (made ${made})`);

    // Places are released once the requests finish: one world gone makes room for exactly one more.
    const full = MAX_WORLDS - live.length;
    const fill = await Promise.all(Array.from({ length: full + 1 }, () => call(t, 'POST', '/v1/worlds', { json: {} })));
    assert.equal(fill.filter((a) => a.status === 201).length, full);
    await call(t, 'DELETE', `/v1/worlds/${source}`);
    assert.equal((await call(t, 'POST', '/v1/worlds', { json: {} })).status, 201);
    assert.equal((await call(t, 'POST', '/v1/worlds', { json: {} })).status, 503);
  });
});

describe('careless library callers', () => {
  let rt: WorldRuntime;
  let home: string;
  let w: World;

  before(async () => {
    home = libraryHome('wr-sec');
    rt = await WorldRuntime.open({ home, warn: () => {} });
    w = await rt.create();
  });
  after(async () => {
    await rt?.close();
    removeHome(home);
  });

  it('numbers out of range are refused with InvalidArgumentError naming the option, the range and the value', async () => {
    for (const timeoutMs of [2147483648, 1e300, Number.POSITIVE_INFINITY, Number.NaN, 0, 86_400_001]) {
      await assert.rejects(
        w.exec('x = 1', { timeoutMs }),
        (e: Error) => e instanceof InvalidArgumentError && /timeoutMs.*1 to 86400000.*got/.test(e.message),
        `exec ${timeoutMs}`,
      );
      await assert.rejects(
        w.run('true', { timeoutMs }),
        (e: Error) => e instanceof InvalidArgumentError && /timeoutMs.*1 to 86400000.*got/.test(e.message),
        `run ${timeoutMs}`,
      );
    }
    assert.equal((await w.exec('import time; time.sleep(0.05); 7', { timeoutMs: 86_400_000 })).value, '7');
    const before = rt.worlds().length;
    const refused: [() => Promise<unknown>, RegExp][] = [
      [() => rt.create({ memoryMib: 0 }), /memoryMib.*1 to 1048576/],
      [() => rt.create({ memoryMib: 2 ** 21 }), /memoryMib.*1 to 1048576/],
      [() => rt.create({ vcpus: 1.5 }), /vcpus.*1 to 256/],
      [() => rt.branch(w, 1001), /count.*1 to 1000/],
      [() => WorldRuntime.open({ home: `${home}/never`, pool: { worlds: 65 } }), /pool\.worlds.*0 to 64/],
      [() => WorldRuntime.open({ home: `${home}/never`, pool: { branchesPerSnapshot: 1e300 } }), /pool\.branchesPerSnapshot.*0 to 64/],
    ];
    for (const [attempt, pattern] of refused)
      await assert.rejects(attempt(), (e: Error) => e instanceof InvalidArgumentError && pattern.test(e.message), String(pattern));
    assert.equal(rt.worlds().length, before);
  });

  it('deep, cyclic, oversized or non-JSON metadata is refused before any world is made', async () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const before = rt.worlds().map((x) => x.id);
    const bad: [Record<string, unknown>, RegExp][] = [
      [nested(5000), /metadata.*deeper than 32 levels/],
      [nested(33), /metadata.*deeper than 32 levels/],
      [cyclic, /metadata.*deeper than 32 levels/],
      [{ blob: 'x'.repeat(64 * 1024) }, /metadata.*64 KiB/],
      [{ n: 1n }, /metadata.*JSON/],
    ];
    for (const [metadata, pattern] of bad) {
      const is = (e: Error) => e instanceof InvalidArgumentError && pattern.test(e.message);
      await assert.rejects(rt.create({ metadata }), is, `create ${pattern}`);
      await assert.rejects(rt.branch(w, 1, { metadata }), is, `branch ${pattern}`);
    }
    assert.deepEqual(
      rt.worlds().map((x) => x.id),
      before,
      'no world was made',
    );
    // What is kept is a JSON copy: the caller changing its object later does not reach the world.
    const meta = { seed: 42, deep: nested(31) };
    const [b] = await rt.branch(w, 1, { metadata: meta });
    meta.seed = 7;
    assert.equal(b?.metadata.seed, 42);
    assert.doesNotThrow(() => JSON.stringify(rt.worlds()));
  });
});
