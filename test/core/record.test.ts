import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { WorldRuntime } from '../../src/index.js';
import { tempHome, withRuntime } from '../fixtures/runtime.js';

test('create, snapshot, branch, destroy and failure are recorded in DuckDB', () =>
  withRuntime(async (rt) => {
    assert.ok(rt.record, 'recording is on by default');
    const w = await rt.create({ trit: 0, memoryMib: 256 });
    const s = await w.snapshot('pre');
    const kids = await rt.branch(s, 3, { trits: [-1, 0, 1] });
    const live = await rt.branch(w, 1);
    await kids[0]?.destroy();
    await s.destroy();
    await rt.record.flush();

    const entities = await rt.record.entities();
    const byId = new Map(entities.map((e) => [e.entityId, e]));
    assert.equal(byId.get(w.id)?.entityType, 'sandbox');
    assert.equal(byId.get(w.id)?.memoryMib, 256);
    assert.equal(byId.get(w.id)?.state, 'running');
    assert.ok((byId.get(w.id)?.bootTimeMs ?? 0) > 0);
    assert.equal(byId.get(s.id)?.entityType, 'snapshot');
    assert.equal(byId.get(s.id)?.state, 'destroyed');
    assert.equal(byId.get(kids[0]?.id as string)?.state, 'destroyed');
    assert.equal(byId.get(kids[1]?.id as string)?.snapshotId, s.id);
    assert.equal(byId.get(kids[1]?.id as string)?.parentId, w.id);
    assert.equal(byId.get(kids[2]?.id as string)?.trit, 1);
    assert.equal(byId.get(live[0]?.id as string)?.parentId, w.id);

    const branches = await rt.record.branches();
    const snapRow = branches.find((b) => b.branchType === 'snapshot');
    assert.deepEqual(snapRow?.childEntityIds, [s.id]);
    const fork = branches.find((b) => b.parentEntityId === s.id);
    assert.equal(fork?.branchType, 'fork');
    assert.equal(fork?.gf3Sum, 0);
    assert.deepEqual([...(fork?.childEntityIds ?? [])].sort(), kids.map((k) => k.id).sort());
    const summary = await rt.record.metricSummary();
    assert.ok(summary.length >= 3, JSON.stringify(summary));
  }));

test('a second runtime on the same home gets HomeLockedError', async () => {
  const home = tempHome();
  const rt = await WorldRuntime.open({ home, warn: () => {} });
  try {
    await assert.rejects(WorldRuntime.open({ home, warn: () => {} }), { code: 'HOME_LOCKED' });
  } finally {
    await rt.close();
  }
  rmSync(home, { recursive: true, force: true });
});
