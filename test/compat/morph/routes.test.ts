/**
 * The Morph-compatible routes against a real daemon, spoken as morph-typescript-sdk speaks them (sdk.ts):
 * images, snapshots (create, get, list by digest and metadata, metadata, delete), instances (start and its
 * readiness poll, boot, list by metadata, exec and exec/sse, snapshot with the SDK's `?digest=undefined`,
 * branch, pause and resume, reboot, metadata, TTL, stop).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { removeHome, stopAll } from '../../server/helpers.js';
import { type MorphDaemon, startMorphDaemon, waitFor } from './helpers.js';
import type { MorphClient, SnapshotView } from './sdk.js';

describe('Morph-compatible routes, as the SDK calls them', () => {
  let m: MorphDaemon;
  let c: MorphClient;
  let base: SnapshotView;
  const tag = `t${process.pid}`;

  before(async () => {
    m = await startMorphDaemon();
    c = m.client;
    base = await c.createSnapshot({ imageId: 'morphvm-minimal', vcpus: 1, memory: 256, diskSize: 1024, metadata: { suite: tag } });
  });
  after(async () => {
    await stopAll();
    removeHome(m.d.home);
  });

  it('lists the one image and makes a ready snapshot of it with the spec asked for', async () => {
    const images = await c.listImages();
    assert.deepEqual(
      images.map((i) => [i.id, i.object]),
      [['morphvm-minimal', 'image']],
    );
    assert.equal(base.status, 'ready');
    assert.equal(base.object, 'snapshot');
    assert.match(base.id, /^snapshot_[a-z0-9]+$/);
    assert.deepEqual(base.spec, { vcpus: 1, memory: 256, diskSize: 1024 });
    assert.equal(base.refs.imageId, 'morphvm-minimal');
    assert.deepEqual((await c.getSnapshot(base.id)).metadata, { suite: tag });
  });

  it('lists snapshots by digest and by metadata, updates and deletes them', async () => {
    const s = await c.createSnapshot({ digest: `d-${tag}`, metadata: { suite: tag, role: 'digest' } });
    assert.equal(s.digest, `d-${tag}`);
    assert.deepEqual(
      (await c.listSnapshots({ digest: `d-${tag}` })).map((x) => x.id),
      [s.id],
    );
    assert.deepEqual((await c.listSnapshots({ metadata: { suite: tag } })).map((x) => x.id).sort(), [base.id, s.id].sort());
    await c.setSnapshotMetadata(s.id, { extra: 'yes' });
    assert.deepEqual((await c.getSnapshot(s.id)).metadata, { suite: tag, role: 'digest', extra: 'yes' });
    assert.deepEqual(
      (await c.listSnapshots({ metadata: { extra: 'yes' } })).map((x) => x.id),
      [s.id],
    );
    await c.deleteSnapshot(s.id);
    assert.deepEqual(await c.listSnapshots({ digest: `d-${tag}` }), []);
    await assert.rejects(c.getSnapshot(s.id), /HTTP 404/);
  });

  it('starts an instance ready at once, finds it by metadata, execs in it and stops it', async () => {
    const before = c.polls;
    const inst = await c.startInstance({ snapshotId: base.id, metadata: { suite: tag, role: 'exec' } });
    assert.equal(c.polls, before, 'the instance was ready in its first answer');
    assert.equal(inst.status, 'ready');
    assert.match(inst.id, /^morphvm_[a-z0-9]+$/);
    assert.deepEqual(inst.refs, { snapshotId: base.id, imageId: 'morphvm-minimal' });
    assert.deepEqual(inst.spec, base.spec);
    assert.deepEqual(inst.networking.httpServices, []);
    assert.deepEqual(
      (await c.listInstances({ suite: tag, role: 'exec' })).map((i) => i.id),
      [inst.id],
    );
    const r = await c.exec(inst.id, 'echo hello; echo oops >&2; exit 3');
    assert.deepEqual(r, { exit_code: 3, stdout: 'hello\n', stderr: 'oops\n' });
    const argv = await c.exec(inst.id, ['python3', '-c', 'import sys; print(sys.argv[1:])', 'a b', 'c']);
    assert.equal(argv.stdout, "['a b', 'c']\n");
    assert.equal(argv.exit_code, 0);
    await c.stopInstance(inst.id);
    await assert.rejects(c.getInstance(inst.id), /HTTP 404/);
    assert.deepEqual(await c.listInstances({ suite: tag, role: 'exec' }), []);
  });

  it('streams exec output as data: events, the exit code last', async () => {
    const inst = await c.startInstance({ snapshotId: base.id });
    try {
      const seen: string[] = [];
      const r = await c.execStreaming(inst.id, 'for i in 1 2 3; do echo line$i; done; echo bad >&2; exit 5', (s) => seen.push(s));
      assert.equal(r.exit_code, 5);
      assert.equal(r.stdout, 'line1\nline2\nline3\n');
      assert.equal(r.stderr, 'bad\n');
      assert.equal(seen.join(''), r.stdout);
    } finally {
      await c.stopInstance(inst.id);
    }
  });

  it('snapshots an instance (digest=undefined is no digest) and boots the snapshot with its files', async () => {
    const inst = await c.startInstance({ snapshotId: base.id });
    try {
      await c.exec(inst.id, 'echo kept > state.txt');
      const s = await c.snapshotInstance(inst.id, { metadata: { suite: tag, role: 'inst' } });
      assert.equal(s.digest, null);
      assert.deepEqual(s.metadata, { suite: tag, role: 'inst' });
      const withDigest = await c.snapshotInstance(inst.id, { digest: `i-${tag}` });
      assert.equal(withDigest.digest, `i-${tag}`);
      const booted = await c.bootInstance(s.id, { metadata: { suite: tag, role: 'booted' }, ttl_seconds: 600 });
      assert.equal(booted.status, 'ready');
      assert.equal(booted.ttl.ttlSeconds, 600);
      assert.equal(booted.ttl.ttlAction, 'stop');
      assert.equal((await c.exec(booted.id, 'cat state.txt')).stdout, 'kept\n');
      await c.stopInstance(booted.id);
    } finally {
      await c.stopInstance(inst.id);
    }
  });

  it('branches an instance into a snapshot and N instances that diverge', async () => {
    const inst = await c.startInstance({ snapshotId: base.id, metadata: { suite: tag, role: 'parent' } });
    try {
      await c.exec(inst.id, 'echo parent > who.txt');
      const { snapshot, instances } = await c.branch(inst.id, 3);
      assert.equal(snapshot.status, 'ready');
      assert.equal(instances.length, 3);
      assert.equal(new Set(instances.map((i) => i.id)).size, 3);
      for (const [k, b] of instances.entries()) {
        assert.equal(b.status, 'ready');
        assert.equal(b.refs.snapshotId, snapshot.id);
        assert.deepEqual(b.metadata, { suite: tag, role: 'parent' });
        assert.equal((await c.exec(b.id, `cat who.txt; echo b${k} > who.txt`)).stdout, 'parent\n');
      }
      for (const [k, b] of instances.entries()) assert.equal((await c.exec(b.id, 'cat who.txt')).stdout, `b${k}\n`);
      assert.equal((await c.exec(inst.id, 'cat who.txt')).stdout, 'parent\n');
      await Promise.all(instances.map((b) => c.stopInstance(b.id)));
    } finally {
      await c.stopInstance(inst.id);
    }
  });

  it('pauses and resumes with files kept, reboots back to its snapshot, sets metadata and wake-on', async () => {
    const inst = await c.startInstance({ snapshotId: base.id });
    try {
      await c.exec(inst.id, 'echo before > p.txt');
      assert.equal((await c.lifecycle(inst.id, 'pause')).status, 'paused');
      await assert.rejects(c.exec(inst.id, 'true'), /HTTP 409/);
      assert.equal((await c.lifecycle(inst.id, 'resume')).status, 'ready');
      assert.equal((await c.exec(inst.id, 'cat p.txt')).stdout, 'before\n');
      assert.equal((await c.lifecycle(inst.id, 'reboot')).status, 'ready');
      assert.equal((await c.exec(inst.id, 'test -e p.txt; echo $?')).stdout, '1\n');
      const withMeta = await c.setInstanceMetadata(inst.id, { a: '1' });
      assert.deepEqual(withMeta.metadata, { a: '1' });
      await c.request('POST', `/instance/${inst.id}/wake-on`, {}, { wake_on_http: true });
      assert.deepEqual((await c.getInstance(inst.id)).wakeOn, { wakeOnSsh: false, wakeOnHttp: true });
    } finally {
      await c.stopInstance(inst.id);
    }
  });

  it('stops an instance at its TTL, and pauses one whose TTL action is pause', async () => {
    const a = await c.startInstance({ snapshotId: base.id, ttlSeconds: 1 });
    assert.equal(a.ttl.ttlSeconds, 1);
    assert.equal(a.ttl.ttlAction, 'stop');
    const b = await c.startInstance({ snapshotId: base.id });
    const set = await c.setTtl(b.id, 1, 'pause');
    assert.equal(set.ttl.ttlAction, 'pause');
    assert.equal(typeof set.ttl.ttlExpireAt, 'number');
    await waitFor('the instance with a 1 s TTL to stop', async () => !(await c.listInstances()).some((i) => i.id === a.id), 30_000);
    await waitFor('the instance with TTL action pause to pause', async () => (await c.getInstance(b.id)).status === 'paused', 30_000);
    await c.stopInstance(b.id);
  });
});
