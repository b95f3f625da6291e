/** Real second processes: the lock error, and durability after SIGKILL mid-recording. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HomeLockedError } from '../../src/base/errors.js';
import { Store } from '../../src/store/index.js';
import { spawnChild, tempDb } from './helpers.js';

test('a second process opening a database in use gets HOME_LOCKED naming this process', async (t) => {
  const db = tempDb(t);
  const store = await Store.open(db);
  t.after(() => store.close());
  const child = spawnChild(t, 'try-open', [db]);
  const line = await child.line(/^(opened|error )/);
  assert.notEqual(line, 'opened');
  const err = JSON.parse(line.slice('error '.length)) as { name: string; code: string; message: string; details: Record<string, unknown> };
  assert.equal(err.name, 'HomeLockedError');
  assert.equal(err.code, 'HOME_LOCKED');
  assert.equal(err.details.pid, process.pid);
  assert.equal(err.details.dbPath, db);
  assert.match(String(err.details.holder), new RegExp(`^PID ${process.pid} \\(`));
  assert.match(err.message, /is in use by PID \d+/);
});

test('opening a database another process holds throws HomeLockedError; it opens once that process exits', async (t) => {
  const db = tempDb(t);
  const child = spawnChild(t, 'hold', [db]);
  const ready = await child.line(/^ready \d+$/);
  assert.equal(ready, `ready ${child.proc.pid}`);
  await assert.rejects(Store.open(db), (err: unknown) => {
    assert.ok(err instanceof HomeLockedError);
    assert.equal(err.code, 'HOME_LOCKED');
    assert.equal(err.details.pid, child.proc.pid);
    return true;
  });
  child.proc.stdin?.end(); // the child closes its store and exits
  assert.deepEqual(await child.exited, { code: 0, signal: null });
  const store = await Store.open(db);
  t.after(() => store.close());
  assert.deepEqual(
    (await store.entities()).map((e) => e.entityId),
    ['held'],
  );
});

test('SIGKILL mid-recording: the file reopens with every flushed row present', async (t) => {
  const db = tempDb(t);
  const child = spawnChild(t, 'record', [db]);
  // Let it record a few rounds, then kill it at once after a flush report, while the next round is running.
  let flushed = 0;
  while (flushed < 400) flushed = Number((await child.line(/^flushed \d+$/)).split(' ')[1]);
  child.proc.kill('SIGKILL');
  assert.equal((await child.exited).signal, 'SIGKILL');

  const store = await Store.open(db);
  t.after(() => store.close());
  const conn = await store.connect();
  const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRows();
  // Every row reported flushed is there, complete (its update applied).
  const [[entities, destroyed]] = (await q(
    `SELECT count(*), count(*) FILTER (state = 'destroyed' AND resolved_at IS NOT NULL) FROM world_runtime_entities
     WHERE CAST(substr(entity_id, 2) AS INTEGER) < ${flushed}`,
  )) as [[bigint, bigint]];
  assert.equal(Number(entities), flushed);
  assert.equal(Number(destroyed), flushed);
  const [[branches]] = (await q(`SELECT count(*) FROM world_branches WHERE CAST(substr(branch_id, 2) AS INTEGER) < ${flushed}`)) as [[bigint]];
  const [[metrics]] = (await q(`SELECT count(*) FROM runtime_metrics WHERE CAST(substr(metric_id, 2) AS INTEGER) < ${flushed}`)) as [[bigint]];
  assert.equal(Number(branches), flushed);
  assert.equal(Number(metrics), flushed);
  // Rows written after the last report came in whole batches (a round of 50 is queued before any write).
  const [[total, totalBranches, totalMetrics]] = (await q(
    'SELECT (SELECT count(*) FROM world_runtime_entities), (SELECT count(*) FROM world_branches), (SELECT count(*) FROM runtime_metrics)',
  )) as [[bigint, bigint, bigint]];
  assert.equal(totalBranches, total);
  assert.equal(totalMetrics, total);
  assert.equal((Number(total) - flushed) % 50, 0);
});
