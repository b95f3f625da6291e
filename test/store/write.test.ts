/** Write-behind recording: order, batching triggers, flush on close, failures kept or reported. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, RuntimeClosedError } from '../../src/base/errors.js';
import { Store, type StoreErrorInfo } from '../../src/store/index.js';
import { waitFor } from '../fixtures/wait.js';
import { tempDb } from './helpers.js';

type Reported = { error: Error; info: StoreErrorInfo };

async function count(store: Store, table: string): Promise<number> {
  // A raw connection, so nothing is flushed on the way (the readers flush first).
  const conn = await store.connect();
  const n = Number((await conn.runAndReadAll(`SELECT count(*) FROM ${table}`)).getRows()[0]?.[0]);
  conn.closeSync();
  return n;
}

/** A branch tree recorded with interleaved updates; every step depends on the one before it. */
function recordScenario(store: Store): void {
  store.updateEntity('late', { state: 'destroyed' }); // before its insert: must change nothing
  store.recordEntity({ entityId: 'root', entityType: 'sandbox', trit: 0, memoryMib: 512, vcpuCount: 1, bootTimeMs: 25.5 });
  store.recordMetric({ metricId: 'm-create', entityId: 'root', bootTimeMs: 25.5 });
  store.recordEntity({ entityId: 'snap', entityType: 'snapshot', parentId: 'root', state: 'snapshotted' });
  store.recordBranch({ branchId: 'b-snap', parentEntityId: 'root', childEntityIds: ['snap'], branchType: 'snapshot', snapshotTimeMs: 3 });
  store.updateEntity('root', { snapshotId: 'snap' });
  store.recordEntity({ entityId: 'v-1', entityType: 'verse', parentId: 'root', snapshotId: 'snap', trit: -1 });
  store.recordEntity({ entityId: 'v0', entityType: 'verse', parentId: 'root', snapshotId: 'snap', trit: 0 });
  store.recordEntity({ entityId: 'v1', entityType: 'verse', parentId: 'root', snapshotId: 'snap', trit: 1 });
  store.recordBranch({ branchId: 'b-push', parentEntityId: 'snap', childEntityIds: ['v-1', 'v0', 'v1'], branchType: 'push_down', gf3Sum: 0 });
  store.recordMetric({ metricId: 'm-branch', entityId: 'snap', branchTimeMs: 2.5 });
  store.updateEntity('v-1', { state: 'collapsed', resolvedAt: new Date('2030-01-01T00:00:00.000Z') });
  store.updateEntity('v1', { state: 'collapsed', resolvedAt: new Date('2030-01-01T00:00:00.000Z') });
  store.updateEntity('v1', { resolvedAt: null }); // a later patch of one field keeps the earlier state
  store.recordResolution({ resolutionId: 'r1', verses: ['v-1', 'v0', 'v1'], winningVerse: 'v0', oracleSource: 'test', wevExtracted: 7, pullUpTimeMs: 1.25 });
  store.updateEntity('root', { state: 'destroyed' });
  store.recordEntity({ entityId: 'late', entityType: 'sandbox' });
}

const EXPECTED_ENTITIES = [
  { id: 'late', state: 'running', snapshotId: null, resolved: null },
  { id: 'root', state: 'destroyed', snapshotId: 'snap', resolved: null },
  { id: 'snap', state: 'snapshotted', snapshotId: null, resolved: null },
  { id: 'v-1', state: 'collapsed', snapshotId: 'snap', resolved: '2030-01-01T00:00:00.000Z' },
  { id: 'v0', state: 'running', snapshotId: 'snap', resolved: null },
  { id: 'v1', state: 'collapsed', snapshotId: 'snap', resolved: null },
];

for (const maxBatch of [1, 2, 3, 1000]) {
  test(`rows apply in call order across batches (maxBatch ${maxBatch})`, async (t) => {
    const errors: Reported[] = [];
    const store = await Store.open(tempDb(t), { maxBatch, onError: (error, info) => errors.push({ error, info }) });
    t.after(() => store.close());
    recordScenario(store);
    await store.flush();
    assert.equal(store.pending, 0);
    assert.deepEqual(errors, []);
    // Written by batches in order, not rescued by the row-by-row replay of a refused batch.
    const ops = 17;
    assert.deepEqual(store.writeStats, { batches: Math.ceil(ops / maxBatch), written: ops, replays: 0, dropped: 0, retries: 0 });
    const entities = (await store.entities()).sort((a, b) => a.entityId.localeCompare(b.entityId));
    assert.deepEqual(
      entities.map((e) => ({ id: e.entityId, state: e.state, snapshotId: e.snapshotId, resolved: e.resolvedAt })),
      EXPECTED_ENTITIES,
    );
    assert.deepEqual(
      (await store.branches()).map((b) => [b.branchId, b.parentEntityId, b.childEntityIds, b.branchType, b.gf3Sum]),
      [
        ['b-push', 'snap', ['v-1', 'v0', 'v1'], 'push_down', 0],
        ['b-snap', 'root', ['snap'], 'snapshot', null],
      ],
    );
    assert.deepEqual((await store.metrics()).map((m) => m.metricId).sort(), ['m-branch', 'm-create']);
    assert.deepEqual(
      (await store.resolutions()).map((r) => [r.resolutionId, r.winningVerse, r.wevExtracted]),
      [['r1', 'v0', 7]],
    );
  });
}

test('recording is write-behind: nothing reaches DuckDB until the interval, the threshold or flush()', async (t) => {
  const store = await Store.open(tempDb(t), { flushIntervalMs: 60_000, flushThreshold: 10 });
  t.after(() => store.close());
  for (let i = 0; i < 9; i++) store.recordEntity({ entityId: `w${i}`, entityType: 'sandbox' });
  assert.equal(store.pending, 9);
  // The one wait here that is not on a condition: a negative check (nothing is written early) needs a window.
  await sleep(30);
  assert.equal(await count(store, 'world_runtime_entities'), 0, 'below threshold, before the interval: still queued');
  store.recordEntity({ entityId: 'w9', entityType: 'sandbox' }); // reaches the threshold
  await waitFor('the threshold flush to write all 10 rows', async () => (await count(store, 'world_runtime_entities')) === 10, 15_000);
  assert.equal(store.pending, 0);
});

test('the interval timer writes queued rows without any flush() call', async (t) => {
  const store = await Store.open(tempDb(t), { flushIntervalMs: 25 });
  t.after(() => store.close());
  store.recordEntity({ entityId: 'w', entityType: 'microvm' });
  store.recordMetric({ entityId: 'w', bootTimeMs: 1 });
  assert.equal(await count(store, 'runtime_metrics'), 0);
  await waitFor('the interval timer to write the metric', async () => (await count(store, 'runtime_metrics')) === 1, 15_000);
  assert.equal(await count(store, 'world_runtime_entities'), 1);
});

test('close() flushes what is queued, then refuses new records', async (t) => {
  const db = tempDb(t);
  const store = await Store.open(db, { flushIntervalMs: 60_000 });
  for (let i = 0; i < 300; i++) store.recordEntity({ entityId: `w${i}`, entityType: 'sandbox', trit: ((i % 3) - 1) as -1 | 0 | 1 });
  store.updateEntity('w0', { state: 'destroyed' });
  assert.equal(store.pending, 301);
  await store.close();
  await store.close(); // idempotent
  assert.throws(() => store.recordEntity({ entityId: 'x', entityType: 'sandbox' }), RuntimeClosedError);
  await assert.rejects(store.entities(), RuntimeClosedError);

  const again = await Store.open(db);
  t.after(() => again.close());
  const rows = await again.entities();
  assert.equal(rows.length, 300);
  assert.equal(rows.find((r) => r.entityId === 'w0')?.state, 'destroyed');
});

test('a row the database refuses is reported and dropped; the rest of its batch is written', async (t) => {
  const errors: Reported[] = [];
  const store = await Store.open(tempDb(t), { onError: (error, info) => errors.push({ error, info }) });
  t.after(() => store.close());
  store.recordEntity({ entityId: 'a', entityType: 'sandbox' });
  store.recordBranch({ branchId: 'orphan', parentEntityId: 'never-recorded', childEntityIds: [], branchType: 'fork' });
  store.recordEntity({ entityId: 'a', entityType: 'sandbox' }); // duplicate key
  store.recordBranch({ branchId: 'ok', parentEntityId: 'a', childEntityIds: ['x'], branchType: 'fork' });
  await store.flush();
  assert.deepEqual(
    errors.map((e) => [e.info.kind, e.info.row]),
    [
      ['dropped', 'branch orphan'],
      ['dropped', 'entity a'],
    ],
  );
  assert.match(errors[0]?.error.message ?? '', /foreign key/i);
  assert.match(errors[1]?.error.message ?? '', /duplicate key/i);
  assert.deepEqual(
    (await store.entities()).map((e) => e.entityId),
    ['a'],
  );
  assert.deepEqual(
    (await store.branches()).map((b) => b.branchId),
    ['ok'],
  );
  assert.deepEqual(store.writeStats, { batches: 0, written: 2, replays: 1, dropped: 2, retries: 0 });
});

test('a batch that fails for a transient reason is kept, reported and retried until it is written', async (t) => {
  const errors: Reported[] = [];
  const store = await Store.open(tempDb(t), { onError: (error, info) => errors.push({ error, info }) });
  t.after(() => store.close());
  store.recordEntity({ entityId: 'w', entityType: 'sandbox' });
  await store.flush();
  // Another connection (think: the ledger) holds an uncommitted change to the same row.
  const other = await store.connect();
  await other.run('BEGIN TRANSACTION');
  await other.run(`UPDATE world_runtime_entities SET state = 'failed' WHERE entity_id = 'w'`);
  store.updateEntity('w', { state: 'destroyed' });
  store.recordMetric({ metricId: 'm', entityId: 'w', bootTimeMs: 1 });
  await assert.rejects(store.flush(), /conflict/i);
  assert.equal(store.pending, 2, 'rows kept');
  assert.equal(errors[0]?.info.kind, 'retry');
  assert.equal(errors[0]?.info.pending, 2);
  await other.run('ROLLBACK');
  await waitFor('the retry timer to write what failed, with no flush() call', () => store.pending === 0, 15_000);
  const [w] = await store.entities();
  assert.equal(w?.state, 'destroyed');
  assert.ok(store.writeStats.retries >= 1);
  assert.equal(store.writeStats.dropped, 0);
  assert.deepEqual(
    (await store.metrics()).map((m) => m.metricId),
    ['m'],
  );
});

test('malformed rows throw on the caller and queue nothing', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  assert.throws(() => store.recordEntity({ entityId: 'w', entityType: 'sandbox', trit: 2 as never }), InvalidArgumentError);
  assert.throws(() => store.recordEntity({ entityId: '', entityType: 'sandbox' }), /entityId/);
  assert.throws(() => store.recordEntity({ entityId: 'w', entityType: 'vm' as never }), /entityType/);
  assert.throws(() => store.recordEntity({ entityId: 'w', entityType: 'sandbox', bootTimeMs: Number.NaN }), /bootTimeMs/);
  assert.throws(() => store.updateEntity('w', { state: 'zombie' as never }), /state/);
  assert.throws(() => store.updateEntity('w', {}), /at least one/);
  assert.throws(() => store.recordBranch({ branchId: 'b', parentEntityId: 'w', childEntityIds: ['a\0b'], branchType: 'fork' }), /NUL/);
  assert.throws(() => store.recordMetric({ bootTimeMs: 1, measuredAt: new Date('nope') }), /measuredAt/);
  assert.throws(() => store.recordEntity({ entityId: 'w', entityType: 'sandbox', memoryMib: 1.5 }), /memoryMib/);
  assert.equal(store.pending, 0);
  assert.deepEqual(await store.entities(), []);
});

test('values round-trip: quotes, unicode, float32 columns, timestamps, lists', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  const id = `it's "quoted" -- ; DROP TABLE x; ☃ 🌍`;
  const at = new Date('2031-02-03T04:05:06.789Z');
  store.recordEntity({ entityId: id, entityType: 'verse', parentId: "o'k", trit: -1, memoryMib: 2048, vcpuCount: 2, bootTimeMs: 12.3, createdAt: at });
  store.recordBranch({
    branchId: "b'1",
    parentEntityId: id,
    childEntityIds: ["c'1", '', 'c,2'].filter(Boolean),
    branchType: 'fork',
    snapshotTimeMs: 0.1,
    gf3Sum: 3,
    branchedAt: at,
  });
  store.recordResolution({ resolutionId: 'r', verses: [], winningVerse: null, resolvedAt: at });
  const [e] = await store.entities();
  assert.deepEqual(e, {
    entityId: id,
    entityType: 'verse',
    parentId: "o'k",
    snapshotId: null,
    trit: -1,
    state: 'running',
    memoryMib: 2048,
    vcpuCount: 2,
    bootTimeMs: 12.3,
    createdAt: '2031-02-03T04:05:06.789Z',
    resolvedAt: null,
  });
  const [b] = await store.branches();
  assert.deepEqual(b, {
    branchId: "b'1",
    parentEntityId: id,
    childEntityIds: ["c'1", 'c,2'],
    branchType: 'fork',
    snapshotTimeMs: 0.1,
    gf3Sum: 3,
    branchedAt: '2031-02-03T04:05:06.789Z',
  });
  assert.deepEqual(await store.resolutions(), [
    { resolutionId: 'r', verses: [], winningVerse: null, oracleSource: null, wevExtracted: null, pullUpTimeMs: null, resolvedAt: '2031-02-03T04:05:06.789Z' },
  ]);
});

test('default timestamps are taken when the row is recorded, not when it is flushed', async (t) => {
  const store = await Store.open(tempDb(t), { flushIntervalMs: 60_000 });
  t.after(() => store.close());
  const before = Date.now();
  store.recordEntity({ entityId: 'w', entityType: 'sandbox' });
  const after = Date.now();
  await waitFor('the clock to move past the record', () => Date.now() > after + 20); // so a flush-time stamp would show
  const [e] = await store.entities();
  const created = Date.parse(e?.createdAt ?? '');
  assert.ok(created >= before && created <= after, `${e?.createdAt} not within [${before}, ${after}]`);
});

test('close() while reads are in flight: each read completes or reports the store closed', async (t) => {
  const store = await Store.open(tempDb(t));
  for (let i = 0; i < 100; i++) store.recordEntity({ entityId: `w${i}`, entityType: 'sandbox' });
  const reads = [store.entities(), store.metricSummary(), store.branches()];
  await store.close();
  for (const r of await Promise.allSettled(reads)) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof RuntimeClosedError, String(r.reason));
    else assert.ok(Array.isArray(r.value));
  }
});
