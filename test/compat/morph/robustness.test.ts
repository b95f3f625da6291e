/**
 * What a client may send the Morph-compatible routes that is wrong: no or a wrong API key, unknown ids,
 * SSH-only and port-forwarding calls (a clear 501 naming the limit), bodies that are not JSON or not the
 * shape, counts past the daemon's world limit. Each gets an answer with Morph's `{detail}` body, and the
 * daemon goes on serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeHome, stopAll } from '../../server/helpers.js';
import { type MorphDaemon, rejection, startMorphDaemon, waitFor } from './helpers.js';
import { MorphClient, SdkHttpError } from './sdk.js';

async function raw(m: MorphDaemon, method: string, path: string, body?: string, key: string | null = m.d.token): Promise<{ status: number; json: { detail?: string } }> {
  const res = await fetch(`${m.baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { authorization: `Bearer ${key}` }) },
    body,
  });
  return { status: res.status, json: (await res.json()) as { detail?: string } };
}

describe('Morph-compatible routes: what is refused', () => {
  let m: MorphDaemon;
  let snapshotId: string;
  let instanceId: string;

  before(async () => {
    m = await startMorphDaemon(['--max-worlds', '4']);
    snapshotId = (await m.client.createSnapshot()).id;
    instanceId = (await m.client.startInstance({ snapshotId })).id;
  });
  after(async () => {
    await stopAll();
    removeHome(m.d.home);
  });

  it('refuses a missing or wrong API key with 401', async () => {
    assert.equal((await raw(m, 'GET', '/instance', undefined, null)).status, 401);
    const wrong = await rejection(new MorphClient(m.baseUrl, 'not-the-token').listInstances());
    assert.ok(wrong instanceof SdkHttpError);
    assert.equal(wrong.status, 401);
    assert.match(wrong.message, /daemon token/);
  });

  it('answers 404 with a detail for unknown ids and routes', async () => {
    const bad = await raw(m, 'GET', '/instance/%E0%A4%A');
    assert.equal(bad.status, 400, 'a path that is not valid percent-encoding');
    for (const p of ['/instance/morphvm_nope', '/snapshot/snapshot_nope', '/nothing', '/instance/morphvm_nope/exec']) {
      const r = await raw(m, p.endsWith('exec') ? 'POST' : 'GET', p, p.endsWith('exec') ? '{"command":["true"]}' : undefined);
      assert.equal(r.status, 404, p);
      assert.equal(typeof r.json.detail, 'string');
    }
    const start = await rejection(m.client.startInstance({ snapshotId: 'snapshot_nope' }));
    assert.match(start.message, /HTTP 404[\s\S]*snapshot_nope not found/);
  });

  it('answers the SSH-only and port calls with 501 naming the limit', async () => {
    for (const [method, path] of [
      ['GET', `/instance/${instanceId}/ssh/key`],
      ['POST', `/instance/${instanceId}/ssh/key`],
      ['POST', `/instance/${instanceId}/http`],
      ['DELETE', `/instance/${instanceId}/http/web`],
    ] as const) {
      const r = await raw(m, method, path, method === 'POST' ? '{"name":"web","port":8080}' : undefined);
      assert.equal(r.status, 501, path);
      assert.match(r.json.detail as string, path.includes('ssh') ? /no SSH gateway/ : /forwards no instance ports/);
    }
  });

  it('refuses bodies that are not JSON or not the shape with 400 or 422', async () => {
    const cases: [string, string, string, number][] = [
      ['POST', `/instance/${instanceId}/exec`, '{not json', 400],
      ['POST', `/instance/${instanceId}/exec`, '[1,2]', 400],
      ['POST', `/instance/${instanceId}/exec`, '{"command":"echo hi"}', 422],
      ['POST', `/instance/${instanceId}/exec`, '{"command":[]}', 422],
      ['POST', `/instance/${instanceId}/exec`, '{"command":["echo",1]}', 422],
      ['POST', `/instance/${instanceId}/metadata`, '{"a":1}', 422],
      ['POST', `/instance/${instanceId}/ttl`, '{"ttl_seconds":-1}', 422],
      ['POST', `/instance/${instanceId}/ttl`, '{"ttl_seconds":5,"ttl_action":"explode"}', 422],
      ['POST', `/instance/${instanceId}/branch?count=0`, '{}', 422],
      ['POST', `/instance/${instanceId}/branch?count=abc`, '{}', 422],
      ['POST', '/instance', '{}', 422],
      ['POST', '/snapshot', '{"image_id":"ubuntu-22"}', 422],
      ['POST', '/snapshot', '{"memory":"lots"}', 422],
      ['POST', `/snapshot/${snapshotId}/boot`, '{"vcpus":8}', 422],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await raw(m, method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${body}: ${JSON.stringify(r.json)}`);
      assert.equal(typeof r.json.detail, 'string');
    }
  });

  it("answers 429 past the daemon's world limit, and still serves", async () => {
    const before = (await m.client.listSnapshots()).length;
    const r = await raw(m, 'POST', `/instance/${instanceId}/branch?count=10`, '{}');
    assert.equal(r.status, 429);
    assert.match(r.json.detail as string, /at most 4 worlds/);
    assert.equal((await m.client.listSnapshots()).length, before, 'the refused branch left no snapshot behind');
    const ok = await m.client.exec(instanceId, 'echo still here');
    assert.equal(ok.stdout, 'still here\n');
  });

  it('answers exec in a world that died with an error, and shows the instance as error', async () => {
    const inst = await m.client.startInstance({ snapshotId });
    // Kill the world's own interpreter (the command's parent), as a VM that crashed.
    await raw(m, 'POST', `/instance/${inst.id}/exec`, '{"command":["kill -9 $PPID"]}');
    await waitFor('the instance to show status error', async () => (await m.client.getInstance(inst.id)).status === 'error');
    const r = await raw(m, 'POST', `/instance/${inst.id}/exec`, '{"command":["true"]}');
    assert.equal(r.status, 409, JSON.stringify(r));
    assert.match(r.json.detail as string, /is error/);
    await m.client.stopInstance(inst.id);
    await assert.rejects(m.client.stopInstance(inst.id), /HTTP 404/);
  });
});
