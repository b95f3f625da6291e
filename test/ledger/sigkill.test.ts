/**
 * Durability under SIGKILL: a real child process streams ledger operations from 8 concurrent clients and
 * prints every acknowledged one; it is killed with SIGKILL mid-stream (batches in flight). The file must
 * then open, pass `check()` (invariants, replay = stored balances), and hold every acknowledged
 * operation with the arguments it was acknowledged for. Two rounds on the same file.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ledger } from '../../src/ledger/index.js';
import { tempDir } from './oracle.js';

const CHILD = fileURLToPath(new URL('./fixtures/stream-child.js', import.meta.url));
const tmp = tempDir();
after(tmp.cleanup);

interface Ack {
  seq: number;
  op: string;
  args: Record<string, string>;
}

/** Run the child until it has acknowledged `atLeast` operations, then SIGKILL it. */
async function runAndKill(path: string, atLeast: number): Promise<Ack[]> {
  const child = spawn(process.execPath, [CHILD, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  const acks: Ack[] = [];
  const lines = createInterface({ input: child.stdout });
  const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let killedAt = -1;
  for await (const line of lines) {
    if (line === 'ready') continue;
    acks.push(JSON.parse(line) as Ack);
    // Kill at a slightly irregular point, with the other clients' operations in flight.
    if (killedAt < 0 && acks.length >= atLeast + (process.hrtime()[1] % 50)) {
      killedAt = acks.length;
      child.kill('SIGKILL');
    }
  }
  clearTimeout(deadline);
  const how = await exited;
  assert.equal(how, 'SIGKILL', `child ended with ${String(how)} before being killed: ${stderr}`);
  assert.ok(killedAt > 0, `child never reached ${atLeast} acknowledged operations: ${stderr}`);
  return acks;
}

async function verify(path: string, acks: Ack[]): Promise<number> {
  const L = await Ledger.open(path);
  try {
    const report = await L.check();
    assert.deepEqual(report.problems, [], 'check() after SIGKILL');
    const journal = await L.journal();
    const bySeq = new Map(journal.map((e) => [e.seq, e]));
    for (const a of acks) {
      const e = bySeq.get(a.seq);
      assert.ok(e, `acknowledged operation ${a.seq} (${a.op}) is missing after SIGKILL`);
      assert.equal(e.op, a.op, `operation ${a.seq}`);
      const args = e.args as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(a.args)) assert.equal(String(args[k]), v, `op ${a.seq} ${k}`);
    }
    return journal.length;
  } finally {
    await L.close();
  }
}

test('SIGKILL in the middle of a stream loses no acknowledged operation', async () => {
  const path = join(tmp.dir, 'killed.duckdb');
  const first = await runAndKill(path, 300);
  const n1 = await verify(path, first);
  assert.ok(n1 >= first.length, `journal has ${n1} entries for ${first.length} acknowledgements`);
  // Second round on the same (recovered) file: it keeps working and stays durable.
  const second = await runAndKill(path, 300);
  assert.ok(Math.min(...second.map((a) => a.seq)) > Math.max(...first.map((a) => a.seq)), 'sequence numbers continue after the recovered ones');
  const n2 = await verify(path, [...first, ...second]);
  assert.ok(n2 > n1);
});
