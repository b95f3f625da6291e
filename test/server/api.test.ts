/**
 * The HTTP API against a real daemon process over its unix socket: the original description's three calls (docs/origin.md) as curl makes
 * them, the REST API, SSE streaming, the record reads, and every bad request with its status. Every JSON
 * answer is held to openapi.json.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, conforms, curl, expectCall, hasCurl, parseSse, removeHome, type Spawned, startDaemon, stopAll, type Target } from './helpers.js';

describe('HTTP API over the unix socket', () => {
  let d: Spawned;
  let t: Target;
  let world: string;

  before(async () => {
    d = await startDaemon({ args: ['--max-worlds', '8'] });
    t = { socket: d.socket };
  });
  after(async () => {
    await stopAll();
    removeHome(d.home);
  });

  it('answers health and serves its own spec', async () => {
    const h = await expectCall(t, 'GET', '/v1/health', '/v1/health', 200);
    assert.equal(h.json.transport, 'unix');
    assert.equal(h.json.pid, d.pid);
    const spec = await call(t, 'GET', '/v1/openapi.json');
    assert.equal(spec.status, 200);
    assert.equal(spec.json.openapi, '3.1.0');
  });

  it("the original description's three calls work as its Babashka code makes them (curl)", { skip: !hasCurl() && 'curl is not installed' }, () => {
    const sock = ['--unix-socket', d.socket];
    // create-world: POST /v1/sandboxes with Content-Type and a JSON config
    const created = curl([...sock, '-X', 'POST', 'http://localhost/v1/sandboxes', '-H', 'Content-Type: application/json', '-d', '{"metadata":{"seed":42}}']);
    assert.equal(created.status, 201);
    conforms({ status: created.status, json: created.json }, 'POST', '/v1/sandboxes');
    const id = created.json.id as string;
    assert.match(id, /^w-/);
    assert.deepEqual(created.json.metadata, { seed: 42 });

    // execute-in-verse: no Content-Type header, {code}
    const ran = curl([
      ...sock,
      '-X',
      'POST',
      `http://localhost/v1/sandboxes/${id}/execute`,
      '-d',
      JSON.stringify({ code: 'data = [1, 2, 3]\nprint(len(data))\nsum(data)' }),
    ]);
    assert.equal(ran.status, 200);
    conforms({ status: ran.status, json: ran.json }, 'POST', '/v1/sandboxes/{id}/execute');
    assert.deepEqual(
      { stdout: ran.json.stdout, stderr: ran.json.stderr, value: ran.json.value, error: ran.json.error },
      { stdout: '3\n', stderr: '', value: '6', error: null },
    );

    // snapshot-world: {name} → snapshot_id
    const snap = curl([...sock, '-X', 'POST', `http://localhost/v1/sandboxes/${id}/snapshots`, '-d', '{"name":"pre-event"}']);
    assert.equal(snap.status, 201);
    conforms({ status: snap.status, json: snap.json }, 'POST', '/v1/sandboxes/{id}/snapshots');
    assert.match(snap.json.snapshot_id, /^s-/);
    assert.equal(snap.json.name, 'pre-event');

    // branch-world: create-world with {snapshot_id, metadata {verse, trit}}
    const verses = ['nash', 'optimal', 'chaos'].map((verse, i) => {
      const v = curl([
        ...sock,
        '-X',
        'POST',
        'http://localhost/v1/sandboxes',
        '-H',
        'Content-Type: application/json',
        '-d',
        JSON.stringify({ snapshot_id: snap.json.snapshot_id, metadata: { verse, trit: i - 1 } }),
      ]);
      assert.equal(v.status, 201);
      assert.equal(v.json.snapshotId, snap.json.snapshot_id);
      assert.equal(v.json.parentId, id);
      assert.equal(v.json.trit, i - 1);
      return v.json.id as string;
    });
    // Each verse starts with the snapshot's state and diverges.
    const strategies = ['selfish', 'cooperative', 'random'];
    verses.forEach((v, i) => {
      const r = curl([
        ...sock,
        '-X',
        'POST',
        `http://localhost/v1/sandboxes/${v}/execute`,
        '-d',
        JSON.stringify({ code: `strategy = '${strategies[i]}'; (sum(data), strategy)` }),
      ]);
      assert.equal(r.json.value, `(6, '${strategies[i]}')`);
    });
    for (const v of [...verses, id]) curl([...sock, '-X', 'DELETE', `http://localhost/v1/worlds/${v}`]);
  });

  it('creates, lists, gets, runs code and commands in a world', async () => {
    const w = await expectCall(t, 'POST', '/v1/worlds', '/v1/worlds', 201, { json: { trit: 1, memoryMib: 256, metadata: { purpose: 'test' } } });
    world = w.json.id;
    assert.equal(w.json.trit, 1);
    assert.equal(w.json.memoryMib, 256);
    const list = await expectCall(t, 'GET', '/v1/worlds', '/v1/worlds', 200);
    assert.ok(list.json.worlds.some((x: { id: string }) => x.id === world));
    await expectCall(t, 'GET', `/v1/worlds/${world}`, '/v1/worlds/{id}', 200);

    const ex = await expectCall(t, 'POST', `/v1/worlds/${world}/exec`, '/v1/worlds/{id}/exec', 200, {
      json: { code: 'import sys\nx = 41\nprint("out"); print("err", file=sys.stderr)\nx + 1' },
    });
    assert.equal(ex.json.stdout, 'out\n');
    assert.equal(ex.json.stderr, 'err\n');
    assert.equal(ex.json.value, '42');
    assert.equal(ex.json.error, null);

    const boom = await expectCall(t, 'POST', `/v1/worlds/${world}/exec`, '/v1/worlds/{id}/exec', 200, { json: { code: '1/0' } });
    assert.equal(boom.json.error.type, 'ZeroDivisionError');

    const run = await expectCall(t, 'POST', `/v1/worlds/${world}/run`, '/v1/worlds/{id}/run', 200, { json: { command: ['sh', '-c', 'echo hi; exit 3'] } });
    assert.equal(run.json.exitCode, 3);
    assert.equal(run.json.stdout, 'hi\n');
  });

  it('writes and reads files, with slashes in the path', async () => {
    const w = await expectCall(t, 'PUT', `/v1/worlds/${world}/files/data/in.txt`, '/v1/worlds/{id}/files/{path}', 200, { body: 'hello\nworld\n' });
    assert.deepEqual(w.json, { path: 'data/in.txt', bytes: 12 });
    const r = await call(t, 'GET', `/v1/worlds/${world}/files/data/in.txt`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.equal(r.text, 'hello\nworld\n');
    const ex = await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: "open('data/in.txt').read().split()" } });
    assert.equal(ex.json.value, "['hello', 'world']");
    await expectCall(t, 'GET', `/v1/worlds/${world}/files/nope.txt`, '/v1/worlds/{id}/files/{path}', 404);
  });

  it('snapshots and branches from a snapshot and from a running world', async () => {
    await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'state = "before"' } });
    const s = await expectCall(t, 'POST', `/v1/worlds/${world}/snapshots`, '/v1/worlds/{id}/snapshots', 201, { json: { name: 'pre' } });
    const sid = s.json.id;
    await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'state = "after"' } });
    const b = await expectCall(t, 'POST', `/v1/snapshots/${sid}/branch`, '/v1/snapshots/{id}/branch', 201, {
      json: { count: 3, trits: [-1, 0, 1], metadata: { v: 1 } },
    });
    assert.equal(b.json.worlds.length, 3);
    assert.deepEqual(
      b.json.worlds.map((w: { trit: number }) => w.trit),
      [-1, 0, 1],
    );
    for (const w of b.json.worlds) {
      const r = await call(t, 'POST', `/v1/worlds/${w.id}/exec`, { json: { code: 'state' } });
      assert.equal(r.json.value, "'before'");
    }
    const fromWorld = await expectCall(t, 'POST', `/v1/worlds/${world}/branch`, '/v1/worlds/{id}/branch', 201, { json: { count: 1 } });
    const r = await call(t, 'POST', `/v1/worlds/${fromWorld.json.worlds[0].id}/exec`, { json: { code: 'state' } });
    assert.equal(r.json.value, "'after'");

    // One route for both: the daemon looks the source up.
    const either = [];
    for (const [source, state] of [
      [sid, "'before'"],
      [world, "'after'"],
    ]) {
      const one = await expectCall(t, 'POST', '/v1/branch', '/v1/branch', 201, { json: { source, count: 1, trits: [1] } });
      assert.equal(one.json.worlds[0].trit, 1);
      assert.equal((await call(t, 'POST', `/v1/worlds/${one.json.worlds[0].id}/exec`, { json: { code: 'state' } })).json.value, state);
      either.push(...one.json.worlds);
    }
    const neither = await expectCall(t, 'POST', '/v1/branch', '/v1/branch', 404, { json: { source: 's-000000000000', count: 1 } });
    assert.equal(neither.json.error.code, 'SOURCE_NOT_FOUND');
    assert.match(neither.json.error.message, /no world or snapshot with id "s-000000000000"/);
    // The typed routes keep refusing the other kind of id.
    await expectCall(t, 'POST', `/v1/worlds/${sid}/branch`, '/v1/worlds/{id}/branch', 404, { json: { count: 1 } });
    await expectCall(t, 'POST', `/v1/snapshots/${world}/branch`, '/v1/snapshots/{id}/branch', 404, { json: { count: 1 } });

    const snaps = await expectCall(t, 'GET', '/v1/snapshots', '/v1/snapshots', 200);
    assert.ok(snaps.json.snapshots.some((x: { id: string }) => x.id === sid));
    await expectCall(t, 'GET', `/v1/snapshots/${sid}`, '/v1/snapshots/{id}', 200);
    await expectCall(t, 'DELETE', `/v1/snapshots/${sid}`, '/v1/snapshots/{id}', 200);
    const again = await expectCall(t, 'POST', `/v1/snapshots/${sid}/branch`, '/v1/snapshots/{id}/branch', 409, { json: { count: 1 } });
    assert.equal(again.json.error.code, 'WRONG_STATE');
    const gone = await expectCall(t, 'POST', '/v1/branch', '/v1/branch', 409, { json: { source: sid, count: 1 } });
    assert.equal(gone.json.error.details.current, 'destroyed');
    for (const w of [...b.json.worlds, ...fromWorld.json.worlds, ...either]) await call(t, 'DELETE', `/v1/worlds/${w.id}`);
  });

  it('streams exec output as server-sent events, then the result', async () => {
    const code =
      'import time, sys\nfor i in range(3):\n    print(f"tick {i}", flush=True)\n    time.sleep(0.15)\nprint("warn", file=sys.stderr, flush=True)\n"done"';
    const t0 = Date.now();
    const firstChunkAt: number[] = [];
    const a = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      import('node:http').then(({ request }) => {
        const body = JSON.stringify({ code });
        const req = request(
          {
            socketPath: d.socket,
            method: 'POST',
            path: `/v1/worlds/${world}/exec`,
            headers: { accept: 'text/event-stream', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => {
              if (c.includes('event: stdout')) firstChunkAt.push(Date.now() - t0);
              text += c;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      }, reject);
    });
    assert.equal(a.status, 200);
    assert.match(a.type, /^text\/event-stream/);
    const events = parseSse(a.text);
    const out = events
      .filter((e) => e.event === 'stdout')
      .map((e) => e.data.chunk)
      .join('');
    assert.equal(out, 'tick 0\ntick 1\ntick 2\n');
    assert.ok(events.some((e) => e.event === 'stderr' && e.data.chunk.includes('warn')));
    const last = events.at(-1);
    assert.equal(last?.event, 'result');
    assert.equal(last?.data.value, "'done'");
    // Output arrived while the code still ran (the whole exec takes ≥ 450 ms).
    assert.ok((firstChunkAt[0] ?? Infinity) < Date.now() - t0 - 200, `first chunk at ${firstChunkAt[0]} ms`);

    // A streaming request for a world that does not exist is a plain JSON 404, not a stream.
    const missing = await call(t, 'POST', '/v1/worlds/w-000000000000/exec', { json: { code: '1' }, headers: { accept: 'text/event-stream' } });
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'WORLD_NOT_FOUND');
  });

  it('reads the record: entities, branches, resolutions, metrics beside the targets', async () => {
    const e = await expectCall(t, 'GET', '/v1/entities', '/v1/entities', 200);
    assert.ok(e.json.entities.some((x: { entityId: string }) => x.entityId === world));
    const running = await expectCall(t, 'GET', '/v1/entities?state=running&type=sandbox&limit=50', '/v1/entities', 200);
    assert.ok(running.json.entities.every((x: { state: string }) => x.state === 'running'));
    const snaps = await expectCall(t, 'GET', '/v1/entities?type=snapshot', '/v1/entities', 200);
    assert.ok(snaps.json.entities.length >= 1);
    const b = await expectCall(t, 'GET', '/v1/branches?limit=10', '/v1/branches', 200);
    assert.ok(b.json.branches.some((x: { branchType: string; childEntityIds: string[] }) => x.branchType === 'fork' && x.childEntityIds.length === 3));
    await expectCall(t, 'GET', '/v1/resolutions', '/v1/resolutions', 200);
    const m = await expectCall(t, 'GET', '/v1/metrics?limit=5', '/v1/metrics', 200);
    const create = m.json.summary.find((s: { operation: string }) => s.operation === 'create');
    assert.equal(create.targetMs, 250);
    assert.ok(create.count >= 1);
    assert.equal(typeof create.p50, 'number');
    assert.ok(m.json.rows.length <= 5);
    const doctor = await expectCall(t, 'GET', '/v1/doctor', '/v1/doctor', 200);
    assert.equal(doctor.json.daemon.maxWorlds, 8);
  });

  describe('bad requests get JSON errors with the right status', () => {
    it('400: malformed JSON, wrong types, unknown fields, unknown query parameters', async () => {
      const bad = await expectCall(t, 'POST', '/v1/worlds', '/v1/worlds', 400, { body: '{"trit": ', headers: { 'content-type': 'application/json' } });
      assert.equal(bad.json.error.code, 'INVALID_ARGUMENT');
      assert.match(bad.json.error.message, /not valid JSON/);

      const unknown = await expectCall(t, 'POST', `/v1/worlds/${world}/exec`, '/v1/worlds/{id}/exec', 400, { json: { code: '1', bogus: true } });
      assert.match(unknown.json.error.message, /unknown field "bogus"/);

      const type = await expectCall(t, 'POST', `/v1/worlds/${world}/exec`, '/v1/worlds/{id}/exec', 400, { json: { code: 42 } });
      assert.match(type.json.error.message, /body\.code: expected a string, got 42/);

      const missing = await expectCall(t, 'POST', `/v1/sandboxes/${world}/execute`, '/v1/sandboxes/{id}/execute', 400, { json: {} });
      assert.match(missing.json.error.message, /body\.code: required field missing/);

      const count = await expectCall(t, 'POST', `/v1/worlds/${world}/branch`, '/v1/worlds/{id}/branch', 400, { json: { count: 0 } });
      assert.match(count.json.error.message, /body\.count: expected an integer from 1 to 1000, got 0/);

      const trit = await expectCall(t, 'POST', '/v1/worlds', '/v1/worlds', 400, { json: { trit: 2 } });
      assert.match(trit.json.error.message, /body\.trit/);

      const seedUnknown = await expectCall(t, 'POST', '/v1/sandboxes', '/v1/sandboxes', 400, { json: { snapshotId: 's-1' } });
      assert.match(seedUnknown.json.error.message, /unknown field "snapshotId" \(known: snapshot_id, metadata\)/);

      const notObject = await expectCall(t, 'POST', '/v1/worlds', '/v1/worlds', 400, { json: [1, 2] });
      assert.match(notObject.json.error.message, /expected an object/);

      const q = await expectCall(t, 'GET', '/v1/entities?colour=red', '/v1/entities', 400);
      assert.match(q.json.error.message, /unknown parameter "colour"/);
      await expectCall(t, 'GET', '/v1/entities?state=sleeping', '/v1/entities', 400);
      await expectCall(t, 'GET', '/v1/branches?limit=-3', '/v1/branches', 400);
    });

    it('404: unknown world, snapshot, route', async () => {
      const w = await expectCall(t, 'POST', '/v1/worlds/w-ffffffffffff/exec', '/v1/worlds/{id}/exec', 404, { json: { code: '1' } });
      assert.equal(w.json.error.code, 'WORLD_NOT_FOUND');
      assert.equal(w.json.error.details.id, 'w-ffffffffffff');
      const s = await expectCall(t, 'POST', '/v1/sandboxes', '/v1/sandboxes', 404, { json: { snapshot_id: 's-ffffffffffff' } });
      assert.equal(s.json.error.code, 'SNAPSHOT_NOT_FOUND');
      await expectCall(t, 'DELETE', '/v1/snapshots/s-ffffffffffff', '/v1/snapshots/{id}', 404);
      const route = await call(t, 'GET', '/v1/nothing-here');
      assert.equal(route.status, 404);
      assert.equal(route.json.error.code, 'NOT_FOUND');
      const pd = await expectCall(t, 'POST', '/v1/worlds/w-ffffffffffff/push-down', '/v1/worlds/{id}/push-down', 404, { json: {} });
      assert.equal(pd.json.error.code, 'WORLD_NOT_FOUND');
      const method = await call(t, 'PATCH', '/v1/worlds');
      assert.equal(method.status, 405);
      assert.equal(method.headers.allow, 'GET, POST');
    });

    it('409: a destroyed world refuses exec, snapshot and branch by name', async () => {
      const w = await call(t, 'POST', '/v1/worlds', { json: {} });
      const id = w.json.id;
      await expectCall(t, 'DELETE', `/v1/worlds/${id}`, '/v1/worlds/{id}', 200);
      // Destroying twice is harmless.
      await expectCall(t, 'DELETE', `/v1/worlds/${id}`, '/v1/worlds/{id}', 200);
      const gone = await expectCall(t, 'GET', `/v1/worlds/${id}`, '/v1/worlds/{id}', 200);
      assert.equal(gone.json.state, 'destroyed');
      const ex = await expectCall(t, 'POST', `/v1/worlds/${id}/exec`, '/v1/worlds/{id}/exec', 409, { json: { code: '1' } });
      assert.equal(ex.json.error.code, 'WRONG_STATE');
      assert.deepEqual({ current: ex.json.error.details.current, required: ex.json.error.details.required }, { current: 'destroyed', required: ['running'] });
      assert.match(ex.json.error.message, /cannot exec world .* it is destroyed \(needs running\)/);
      await expectCall(t, 'POST', `/v1/sandboxes/${id}/execute`, '/v1/sandboxes/{id}/execute', 409, { json: { code: '1' } });
      await expectCall(t, 'POST', `/v1/worlds/${id}/snapshots`, '/v1/worlds/{id}/snapshots', 409, { json: {} });
      await expectCall(t, 'POST', `/v1/worlds/${id}/branch`, '/v1/worlds/{id}/branch', 409, { json: { count: 2 } });
      const sse = await call(t, 'POST', `/v1/worlds/${id}/exec`, { json: { code: '1' }, headers: { accept: 'text/event-stream' } });
      assert.equal(sse.status, 409);
    });

    it('409: a world whose process died is failed, and says why', async () => {
      const id = (await call(t, 'POST', '/v1/worlds', { json: {} })).json.id;
      const died = await call(t, 'POST', `/v1/worlds/${id}/exec`, { json: { code: 'import os\nos._exit(3)' } });
      assert.equal(died.status, 409, died.text);
      conforms(died, 'POST', '/v1/worlds/{id}/exec');
      assert.equal(died.json.error.code, 'WORLD_FAILED');
      const after = await expectCall(t, 'POST', `/v1/worlds/${id}/exec`, '/v1/worlds/{id}/exec', 409, { json: { code: '1' } });
      assert.equal(after.json.error.code, 'WRONG_STATE');
      assert.equal(after.json.error.details.current, 'failed');
      // The id is bare; why the world failed is a field of its own (and follows the id in the message).
      assert.equal(after.json.error.details.id, id);
      assert.equal(typeof after.json.error.details.reason, 'string');
      assert.ok(after.json.error.message.includes(`${id} (${after.json.error.details.reason})`), after.json.error.message);
      assert.equal((await call(t, 'GET', `/v1/worlds/${id}`)).json.state, 'failed');
      // Asked for a stream, the answer is the same plain 409, not a 200 stream with an error event.
      for (const op of ['exec', 'run']) {
        const json = op === 'exec' ? { code: '1' } : { command: 'true' };
        const sse = await call(t, 'POST', `/v1/worlds/${id}/${op}`, { json, headers: { accept: 'text/event-stream' } });
        assert.equal(sse.status, 409, `${op}: ${sse.text.slice(0, 200)}`);
        assert.equal(sse.json.error.code, 'WRONG_STATE');
      }
      await expectCall(t, 'DELETE', `/v1/worlds/${id}`, '/v1/worlds/{id}', 200);
    });

    it('a timed-out exec reports TimeoutError and the world lives on', async () => {
      const r = await expectCall(t, 'POST', `/v1/worlds/${world}/exec`, '/v1/worlds/{id}/exec', 200, {
        json: { code: 'import time\ntime.sleep(5)', timeoutMs: 200 },
      });
      assert.equal(r.json.error.type, 'TimeoutError');
      assert.equal((await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: '1 + 1' } })).json.value, '2');
    });

    it('a client that hangs up mid-stream does not hurt the daemon', async () => {
      const { request } = await import('node:http');
      await new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ code: 'import time\nfor i in range(10):\n    print(i, flush=True)\n    time.sleep(0.1)' });
        const req = request(
          {
            socketPath: d.socket,
            method: 'POST',
            path: `/v1/worlds/${world}/exec`,
            headers: { accept: 'text/event-stream', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          },
        );
        req.on('error', () => {});
        req.end(body);
        setTimeout(() => reject(new Error('no first chunk')), 10_000);
      });
      // The world finishes its code, then takes the next request; the daemon is well.
      const r = await call(t, 'POST', `/v1/worlds/${world}/exec`, { json: { code: "'still here'" } });
      assert.equal(r.json.value, "'still here'");
      await expectCall(t, 'GET', '/v1/health', '/v1/health', 200);
    });

    it('413: a body over 8 MiB, declared or chunked', async () => {
      const big = Buffer.alloc(8 * 1024 * 1024 + 1, 0x61);
      const declared = await expectCall(t, 'PUT', `/v1/worlds/${world}/files/big.bin`, '/v1/worlds/{id}/files/{path}', 413, { body: big });
      assert.equal(declared.json.error.code, 'TOO_LARGE');
      assert.equal(declared.json.error.details.limitBytes, 8 * 1024 * 1024);
      // Chunked (no Content-Length): counted as it arrives.
      const chunked = await new Promise<number>((resolve, reject) => {
        import('node:http').then(({ request }) => {
          const req = request(
            { socketPath: d.socket, method: 'POST', path: `/v1/worlds/${world}/exec`, headers: { 'content-type': 'application/json' } },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          for (let i = 0; i < 9; i++) req.write(Buffer.alloc(1024 * 1024, 0x20));
          req.end();
        }, reject);
      });
      assert.equal(chunked, 413);
      // Just under the limit is fine.
      await expectCall(t, 'PUT', `/v1/worlds/${world}/files/ok.bin`, '/v1/worlds/{id}/files/{path}', 200, { body: Buffer.alloc(4 * 1024 * 1024, 0x62) });
      // And the daemon is still well.
      await expectCall(t, 'GET', '/v1/health', '/v1/health', 200);
    });

    it('503: at capacity (--max-worlds)', async () => {
      const live = (await call(t, 'GET', '/v1/worlds')).json.worlds.length as number;
      const r = await expectCall(t, 'POST', `/v1/worlds/${world}/branch`, '/v1/worlds/{id}/branch', 503, { json: { count: 9 - live } });
      assert.equal(r.json.error.code, 'CAPACITY');
      assert.match(r.json.error.message, /--max-worlds/);
      // Nothing was started.
      assert.equal((await call(t, 'GET', '/v1/worlds')).json.worlds.length, live);
    });
  });
});
