/** Readers, the metric summary and crash recovery's markRunningAsLost. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HomeLockedError, InvalidArgumentError } from '../../src/base/errors.js';
import { Store } from '../../src/store/index.js';
import { tempDb } from './helpers.js';

/** Linear-interpolation percentile (numpy's default), the definition metricSummary promises. */
function percentile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;

test('metricSummary gives count, p50 and p99 per operation', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  store.recordEntity({ entityId: 'w', entityType: 'sandbox' });
  // branch: 1..100 in a scrambled order; create: three values; snapshot: 7 odd values; pull_up: two.
  const branch = Array.from({ length: 100 }, (_, i) => ((i * 37) % 100) + 1);
  for (const v of branch) store.recordMetric({ entityId: 'w', branchTimeMs: v });
  for (const v of [30, 10, 20]) store.recordMetric({ entityId: 'w', bootTimeMs: v });
  const snaps = [0.5, 1.25, 9.75, 2.5, 3.5, 120.25, 4.75];
  for (const v of snaps) store.recordMetric({ snapshotTimeMs: v, memoryOverheadMb: 1.5 });
  store.recordResolution({ resolutionId: 'r1', verses: ['a', 'b'], winningVerse: 'a', pullUpTimeMs: 4 });
  store.recordResolution({ resolutionId: 'r2', verses: ['a', 'b'], winningVerse: 'b', pullUpTimeMs: 8 });

  const summary = await store.metricSummary();
  const by = Object.fromEntries(summary.map((s) => [s.operation, s]));
  assert.deepEqual(
    summary.map((s) => s.operation),
    ['create', 'snapshot', 'branch', 'memory', 'pull_up'],
  );
  assert.deepEqual(by.branch, {
    operation: 'branch',
    source: 'runtime_metrics.branch_time_ms',
    unit: 'ms',
    count: 100,
    p50: 50.5,
    p99: 99.01,
    min: 1,
    max: 100,
    mean: 50.5,
  });
  assert.deepEqual([by.create?.count, by.create?.p50, by.create?.p99], [3, 20, 29.8]);
  const sorted = [...snaps].sort((a, b) => a - b);
  assert.deepEqual(
    [by.snapshot?.count, by.snapshot?.p50, by.snapshot?.p99, by.snapshot?.min, by.snapshot?.max],
    [7, percentile(sorted, 0.5), round3(percentile(sorted, 0.99)), 0.5, 120.25],
  );
  assert.deepEqual([by.memory?.count, by.memory?.unit, by.memory?.p50], [7, 'MB', 1.5]);
  assert.deepEqual([by.pull_up?.count, by.pull_up?.p50, by.pull_up?.p99], [2, 6, 7.96]);
});

test('metricSummary of an empty database: zero counts and null figures', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  for (const s of await store.metricSummary()) {
    assert.deepEqual([s.count, s.p50, s.p99, s.min, s.max, s.mean], [0, null, null, null, null, null], s.operation);
  }
});

test('entities() filters by state, type and id, newest first, with a limit', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  const t0 = Date.parse('2030-01-01T00:00:00Z');
  const rows = [
    { entityId: 'a', entityType: 'sandbox', state: 'running' },
    { entityId: 'b', entityType: 'verse', state: 'collapsed' },
    { entityId: 'c', entityType: 'verse', state: 'running' },
    { entityId: 'd', entityType: 'snapshot', state: 'snapshotted' },
    { entityId: 'e', entityType: 'verse', state: 'running' },
  ] as const;
  for (const [i, r] of rows.entries()) store.recordEntity({ ...r, createdAt: new Date(t0 + i * 1000) });
  const ids = async (f: Parameters<Store['entities']>[0]) => (await store.entities(f)).map((e) => e.entityId);
  assert.deepEqual(await ids({}), ['e', 'd', 'c', 'b', 'a']);
  assert.deepEqual(await ids({ state: 'running' }), ['e', 'c', 'a']);
  assert.deepEqual(await ids({ type: 'verse' }), ['e', 'c', 'b']);
  assert.deepEqual(await ids({ type: 'verse', state: 'running', limit: 1 }), ['e']);
  assert.deepEqual(await ids({ limit: 2 }), ['e', 'd']);
  assert.deepEqual(await ids({ id: 'c' }), ['c']);
  assert.deepEqual(await ids({ id: 'zz' }), []);
  await assert.rejects(store.entities({ limit: 0 }), InvalidArgumentError);
  await assert.rejects(store.entities({ state: 'zombie' as never }), InvalidArgumentError);
  assert.deepEqual((await store.branches({ limit: 5 })).length, 0);
});

test('markRunningAsLost marks only running entities (even ones other tables reference) and returns them', async (t) => {
  const store = await Store.open(tempDb(t), { flushIntervalMs: 60_000 });
  t.after(() => store.close());
  store.recordEntity({ entityId: 'r1', entityType: 'sandbox' });
  store.recordEntity({ entityId: 'snap', entityType: 'snapshot', parentId: 'r1', state: 'snapshotted' });
  store.recordEntity({ entityId: 'r2', entityType: 'verse', parentId: 'r1' });
  store.recordEntity({ entityId: 'gone', entityType: 'sandbox', state: 'destroyed' });
  store.recordEntity({ entityId: 'dead', entityType: 'microvm', state: 'failed', resolvedAt: new Date('2030-01-01T00:00:00Z') });
  store.recordBranch({ branchId: 'b', parentEntityId: 'r1', childEntityIds: ['r2'], branchType: 'fork' });
  store.recordMetric({ entityId: 'r2', branchTimeMs: 1 });
  await store.flush();
  store.recordEntity({ entityId: 'r3', entityType: 'sandbox' }); // still queued: included (it flushes first)

  const before = Date.now();
  assert.deepEqual(await store.markRunningAsLost(), ['r1', 'r2', 'r3']);
  const state = Object.fromEntries((await store.entities()).map((e) => [e.entityId, e]));
  assert.deepEqual(Object.fromEntries(Object.entries(state).map(([id, e]) => [id, e.state])), {
    r1: 'lost',
    r2: 'lost',
    r3: 'lost',
    snap: 'snapshotted',
    gone: 'destroyed',
    dead: 'failed',
  });
  assert.ok(Date.parse(state.r1?.resolvedAt ?? '') >= before - 1000, 'resolved_at set to when the loss was noticed');
  assert.equal(state.dead?.resolvedAt, '2030-01-01T00:00:00.000Z');
  assert.deepEqual(await store.markRunningAsLost(), [], 'nothing left running');
  assert.deepEqual(await store.markRunningAsLost({ states: ['snapshotted'] }), ['snap']);
  assert.equal((await store.branches()).length, 1, 'the branch referencing r1 is intact');
});

test('a second open of the same file in the same process is refused', async (t) => {
  const db = tempDb(t);
  const store = await Store.open(db);
  await assert.rejects(Store.open(db), (err: unknown) => {
    assert.ok(err instanceof HomeLockedError);
    assert.equal(err.code, 'HOME_LOCKED');
    assert.equal(err.details.pid, process.pid);
    return true;
  });
  await store.close();
  const again = await Store.open(db); // released by close
  await again.close();
});

test('connect() gives the ledger its own connection to the same file', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  const ledger = await store.connect();
  await ledger.run('CREATE TABLE ledger_balances (owner VARCHAR PRIMARY KEY, amount HUGEINT NOT NULL)');
  await ledger.run('BEGIN TRANSACTION');
  await ledger.run(`INSERT INTO ledger_balances VALUES ('alice', 170141183460469231731687303715884105727)`);
  store.recordEntity({ entityId: 'w', entityType: 'sandbox' });
  await store.flush(); // the store's batch commits while the ledger's transaction is open
  await ledger.run('COMMIT');
  const [row] = (await ledger.runAndReadAll('SELECT amount FROM ledger_balances')).getRows();
  assert.equal(row?.[0], 170141183460469231731687303715884105727n);
  assert.equal((await store.entities()).length, 1);
  assert.ok(store.instance, 'the DuckDBInstance is exposed too');
});

test('verseWorlds joins each verse to its world row, oldest first, and narrows by event', async (t) => {
  const store = await Store.open(tempDb(t));
  t.after(() => store.close());
  store.recordEntity({ entityId: 'w-src', entityType: 'sandbox' });
  store.recordEntity({ entityId: 'v-a', entityType: 'verse', parentId: 'w-src', snapshotId: 's-1', trit: -1, memoryMib: 256, vcpuCount: 1, bootTimeMs: 3.5 });
  store.updateEntity('v-a', { state: 'collapsed' });
  store.recordVerseWorld({ verse: 'e1/a', event: 'e1', worldId: 'v-a', sourceWorldId: 'w-src', snapshotId: 's-1', diskMib: 64 });
  // A verse whose world row never made it to the record (a crash before the flush) still reads, world null.
  store.recordVerseWorld({ verse: 'e1/b', event: 'e1', worldId: 'v-gone', sourceWorldId: 'w-src', snapshotId: 's-1' });
  store.recordVerseWorld({ verse: 'e2/x', event: 'e2', worldId: 'v-x' });
  const all = await store.verseWorlds();
  assert.deepEqual(
    all.map((r) => [r.verse, r.event, r.worldId, r.world?.state ?? null]),
    [
      ['e1/a', 'e1', 'v-a', 'collapsed'],
      ['e1/b', 'e1', 'v-gone', null],
      ['e2/x', 'e2', 'v-x', null],
    ],
  );
  const a = all[0];
  assert.equal(a?.diskMib, 64);
  assert.equal(a?.sourceWorldId, 'w-src');
  assert.equal(a?.snapshotId, 's-1');
  assert.equal(a?.world?.trit, -1);
  assert.equal(a?.world?.bootTimeMs, 3.5);
  assert.match(a?.createdAt ?? '', /^\d{4}-\d\d-\d\dT/);
  assert.deepEqual(
    (await store.verseWorlds({ events: ['e2'] })).map((r) => r.verse),
    ['e2/x'],
  );
  assert.deepEqual(await store.verseWorlds({ events: [] }), []);
  assert.throws(() => store.recordVerseWorld({ verse: '', event: 'e', worldId: 'w' }), InvalidArgumentError);
});
