/**
 * Persistence and group commit on real DuckDB files: batching, ordering, visibility after acknowledgement,
 * a failed commit rejecting its whole batch and restoring memory from the tables, schema version refusal,
 * `check()` catching tampered tables, compaction, and the connection-ownership rules of `Ledger.open`.
 */

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { Ledger, LEDGER_SCHEMA_VERSION } from '../../src/ledger/index.js';
import { tempDir } from './oracle.js';

const tmp = tempDir();
after(tmp.cleanup);
let n = 0;
const file = (): string => join(tmp.dir, `p${++n}.duckdb`);

async function withInstance<T>(path: string, fn: (inst: DuckDBInstance) => Promise<T>): Promise<T> {
  const inst = await DuckDBInstance.create(path);
  try {
    return await fn(inst);
  } finally {
    inst.closeSync();
  }
}

test('concurrent operations share one commit, take sequence numbers in call order, and are visible once acknowledged', async () => {
  await withInstance(file(), async (inst) => {
    const L = await Ledger.open(inst);
    const other = await inst.connect();
    const before = L.commitStats;
    const seqs = await Promise.all(Array.from({ length: 8 }, (_, i) => L.deposit(`o${i}`, 'usd', BigInt(i + 1))));
    assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6, 7, 8]);
    const after = L.commitStats;
    assert.equal(after.ops - before.ops, 8);
    assert.ok(after.batches - before.batches <= 2, `8 concurrent deposits took ${after.batches - before.batches} commits`);
    const rows = await (await other.run('SELECT count(*) AS n FROM ledger_journal')).getRowObjectsJS();
    assert.equal(Number(rows[0]?.n), 8, 'acknowledged operations are committed and visible to another connection');
    const bal = await (await other.run(`SELECT amount FROM ledger_balances WHERE owner = 'o7'`)).getRowObjectsJS();
    assert.equal(bal[0]?.amount, 8n);
    other.closeSync();
    await L.close();
  });
});

test('a failed commit rejects the whole batch and memory is reloaded from the tables', async () => {
  await withInstance(file(), async (inst) => {
    const L = await Ledger.open(inst);
    await L.deposit('alice', 'usd', 10n);
    // Another writer takes sequence number 2 behind the ledger's back: the next batch hits the primary key.
    const other = await inst.connect();
    await other.run(`INSERT INTO ledger_journal VALUES (2, 'deposit', '{"owner":"bob","asset":"usd","amount":"7"}',
      TIMESTAMP '2024-01-01 00:00:00', '[["root","bob","usd","7"]]')`);
    const settled = await Promise.allSettled([L.deposit('alice', 'usd', 5n), L.transfer(L.root, 'usd', 'alice', 'carol', 3n), L.withdraw('alice', 'usd', 1n)]);
    for (const s of settled) {
      assert.equal(s.status, 'rejected');
      assert.equal((s as PromiseRejectedResult).reason.details.reason, 'COMMIT_FAILED');
    }
    assert.deepEqual(await L.balances(), [
      { verse: 'root', owner: 'alice', asset: 'usd', amount: 10n },
      { verse: 'root', owner: 'bob', asset: 'usd', amount: 7n },
    ]);
    assert.equal(await L.deposit('alice', 'usd', 1n), 3);
    assert.deepEqual((await L.check()).problems, []);
    other.closeSync();
    await L.close();
  });
});

test('a database with another schema version is refused', async () => {
  const path = file();
  await (await Ledger.open(path)).close();
  await withInstance(path, async (inst) => {
    const c = await inst.connect();
    await c.run(`UPDATE ledger_meta SET value = '${LEDGER_SCHEMA_VERSION + 1}' WHERE key = 'schema_version'`);
    c.closeSync();
  });
  await assert.rejects(Ledger.open(path), (err: { details?: { reason?: string } }) => err.details?.reason === 'SCHEMA_VERSION');
});

async function tamper(path: string, sql: string): Promise<void> {
  await withInstance(path, async (inst) => {
    const c = await inst.connect();
    await c.run(sql);
    c.closeSync();
  });
}

async function seeded(path: string): Promise<void> {
  const L = await Ledger.open(path);
  await L.deposit('alice', 'usd', 100n);
  await L.partition(L.root, {
    event: 'e',
    children: [
      { name: 'a', probability: '0.25', trit: 0 },
      { name: 'b', probability: '0.75', trit: 0 },
    ],
  });
  await L.pushDown('e', 'alice', 'usd', 30n);
  assert.deepEqual((await L.check()).problems, []);
  await L.close();
}

test('check() reports stored balances that the journal does not explain', async () => {
  const path = file();
  await seeded(path);
  await tamper(path, `INSERT INTO ledger_balance_base VALUES (0, 'e/a', 'mallory', 'usd', 5)`);
  const L = await Ledger.open(path);
  const report = await L.check();
  assert.equal(report.ok, false);
  assert.ok(
    report.problems.some((p) => p.includes('stored balances differ')),
    report.problems.join('\n'),
  );
  await L.close();
});

test('check() reports a gap in the journal', async () => {
  const path = file();
  await seeded(path);
  await tamper(path, `DELETE FROM ledger_journal WHERE seq = 2`);
  const L = await Ledger.open(path);
  const report = await L.check();
  assert.equal(report.ok, false);
  assert.match(report.problems.join('\n'), /journal jumps from seq 1 to 3/);
  await L.close();
});

test('compact() moves the balance snapshot forward without changing any balance', async () => {
  const path = file();
  const L = await Ledger.open(path);
  for (let i = 0; i < 30; i++) await L.deposit(`o${i % 4}`, 'usd', 10n);
  await L.withdraw('o3', 'usd', 70n); // o3's entry disappears
  const before = await L.balances();
  await L.compact();
  assert.deepEqual(await L.balances(), before);
  await L.deposit('o0', 'usd', 1n);
  const after = await L.balances();
  await L.close();
  await withInstance(path, async (inst) => {
    const c = await inst.connect();
    const base = await (await c.run(`SELECT count(*) AS n FROM ledger_balance_base`)).getRowObjectsJS();
    assert.equal(Number(base[0]?.n), 3);
    const meta = await (await c.run(`SELECT value FROM ledger_meta WHERE key = 'balance_base_seq'`)).getRowObjectsJS();
    assert.equal(meta[0]?.value, '31');
    c.closeSync();
  });
  const again = await Ledger.open(path);
  assert.deepEqual(await again.balances(), after);
  assert.deepEqual((await again.check()).problems, []);
  await again.close();
});

test('a connection handed in stays open after close(); a closed ledger refuses operations', async () => {
  await withInstance(file(), async (inst) => {
    const conn = await inst.connect();
    const L = await Ledger.open(conn);
    await L.deposit('alice', 'usd', 1n);
    await L.close();
    const rows = await (await conn.run('SELECT count(*) AS n FROM ledger_journal')).getRowObjectsJS();
    assert.equal(Number(rows[0]?.n), 1);
    await assert.rejects(L.deposit('alice', 'usd', 1n), (err: { details?: { reason?: string } }) => err.details?.reason === 'CLOSED');
    conn.closeSync();
  });
});
