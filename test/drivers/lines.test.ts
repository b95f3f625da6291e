import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { DEFAULT_MAX_LINE_BYTES, type JsonLineOptions, JsonLineReader, LineTooLongError } from '../../src/drivers/lines.js';
import { AgentClient, Qmp } from '../../src/drivers/microvm/qmp.js';

type Msg = Record<string, unknown>;

/** Feed `chunks` through a PassThrough into a reader; what each callback saw once the stream has drained. */
async function feed(chunks: Buffer[], opts: Partial<JsonLineOptions> = {}) {
  const stream = new PassThrough();
  const lines: Msg[] = [];
  const bad: string[] = [];
  const overflows: Error[] = [];
  const reader = new JsonLineReader(stream, {
    maxLineBytes: DEFAULT_MAX_LINE_BYTES,
    onLine: (m) => lines.push(m),
    onBadLine: (l) => bad.push(l),
    onOverflow: (e) => overflows.push(e),
    ...opts,
  });
  for (const c of chunks) stream.write(c);
  stream.end();
  await new Promise<void>((resolve) => {
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
  });
  return { stream, reader, lines, bad, overflows };
}

/** A deterministic PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const messages: Msg[] = [
  { id: 1, ok: true, data: 'plain' },
  { id: 2, text: 'é à ü — € 😀 日本語' }, // 2-, 3- and 4-byte UTF-8
  { id: 3, nested: { list: [1, 2, 3], s: '𝄞\u2028x' } },
  { id: 4, empty: '' },
];
const payload = Buffer.from(`${messages.map((m) => JSON.stringify(m)).join('\n')}\n\n  \n`);

test('lines split at every byte boundary arrive intact and in order, multi-byte characters included', async () => {
  for (let i = 0; i <= payload.length; i++) {
    const { lines, bad } = await feed([payload.subarray(0, i), payload.subarray(i)]);
    assert.deepEqual(lines, messages, `split at byte ${i}`);
    assert.deepEqual(bad, [], `split at byte ${i}`);
  }
  const oneByOne = await feed([...payload].map((b) => Buffer.from([b])));
  assert.deepEqual(oneByOne.lines, messages, 'one byte per chunk');
});

test('long lines in pieces of every size (small pieces are staged, large ones held as they are)', async () => {
  const next = rng(7);
  const big: Msg[] = Array.from({ length: 6 }, (_, i) => ({ id: i, s: '€x😀'.repeat(1000 + Math.floor(next() * 20_000)) }));
  const bytes = Buffer.from(big.map((m) => `${JSON.stringify(m)}\n`).join(''));
  for (const most of [3, 300, 5000, 40_000]) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; ) {
      const n = 1 + Math.floor(next() * most);
      chunks.push(bytes.subarray(at, at + n));
      at += n;
    }
    const { lines, reader } = await feed(chunks);
    assert.deepEqual(lines, big, `pieces of up to ${most} bytes`);
    assert.equal(reader.pendingBytes, 0);
  }
});

test('a 64 MiB flood without a newline over a unix socket: one overflow, connection closed, memory bounded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lines-'));
  const path = join(dir, 's.sock');
  const limit = 1 << 20;
  const overflows: Error[] = [];
  let maxPending = 0;
  let seen = 0;
  let reader: JsonLineReader | undefined;
  const server = createServer((socket) => {
    socket.on('error', () => {});
    reader = new JsonLineReader(socket, {
      maxLineBytes: limit,
      onLine: () => assert.fail('no line was sent'),
      onOverflow: (e) => overflows.push(e),
    });
    // Listeners run in order: this one sees the reader's state just after each chunk.
    socket.on('data', (c: Buffer) => {
      seen += c.length;
      maxPending = Math.max(maxPending, reader?.pendingBytes ?? 0);
      if (seen > 4 * limit) socket.destroy(); // a reader that never overflows: fail now, not after 64 MiB
    });
  });
  server.listen(path);
  await once(server, 'listening');
  try {
    const client: Socket = connect(path);
    client.on('error', () => {}); // EPIPE / ECONNRESET once the host hangs up
    await once(client, 'connect');
    // Not events.once: it rejects on the 'error' (EPIPE, ECONNRESET) that comes with the hang-up.
    let gone = false;
    const closed = new Promise<void>((resolve) =>
      client.once('close', () => {
        gone = true;
        resolve();
      }),
    );
    const chunk = Buffer.alloc(64 * 1024, 'a');
    let sent = 0;
    for (let i = 0; i < 1024 && !gone; i++) {
      sent += chunk.length;
      if (!client.write(chunk)) await Promise.race([new Promise((r) => client.once('drain', r)), closed]);
    }
    client.end();
    await closed;
    assert.equal(overflows.length, 1, 'onOverflow exactly once');
    assert.ok(overflows[0] instanceof LineTooLongError);
    assert.match(overflows[0].message, /longer than the limit of 1048576 bytes/);
    assert.ok(maxPending <= limit, `held ${maxPending} bytes`);
    assert.equal(reader?.pendingBytes, 0, 'what was held is dropped');
    assert.ok(seen <= limit + 64 * 1024, `read ${seen} bytes after the limit was reached`);
    assert.ok(sent < 64 * 1024 * 1024, 'the sender was cut off before the end of its flood');
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a line of exactly maxLineBytes is delivered; one byte more overflows, even before its newline', async () => {
  const limit = 1000;
  const line = (n: number) => {
    const s = `{"s":"${'é'.repeat(100)}${'x'.repeat(n - 208)}"}`; // 'é' is 2 bytes: exercise byte, not char, counting
    assert.equal(Buffer.byteLength(s), n);
    return s;
  };
  const exact = Buffer.from(`${line(limit)}\n`);
  for (const at of [1, 500, limit, limit + 1]) {
    const r = await feed([exact.subarray(0, at), exact.subarray(at)], { maxLineBytes: limit });
    assert.equal(r.lines.length, 1, `split at ${at}`);
    assert.deepEqual(r.overflows, []);
  }
  const over = await feed([Buffer.from(`${line(limit + 1)}\n{"after":1}\n`)], { maxLineBytes: limit });
  assert.equal(over.lines.length, 0);
  assert.equal(over.overflows.length, 1);
  assert.ok(over.stream.destroyed, 'the stream is destroyed');

  // No newline yet: held up to the limit, overflow at the byte past it.
  const stream = new PassThrough();
  let overflowed = 0;
  const reader = new JsonLineReader(stream, { maxLineBytes: limit, onLine: () => {}, onOverflow: () => overflowed++ });
  stream.write(Buffer.from(line(limit + 1)).subarray(0, limit));
  await new Promise((r) => setImmediate(r));
  assert.equal(reader.pendingBytes, limit);
  assert.equal(overflowed, 0);
  stream.write('x');
  stream.write('more');
  await new Promise((r) => setImmediate(r));
  assert.equal(overflowed, 1);
  assert.equal(reader.pendingBytes, 0);
  assert.ok(stream.destroyed);
});

test('bad JSON and JSON that is not an object go to onBadLine; good lines after them still arrive', async () => {
  const text = ['{"id":1}', '{"id":', 'not json', '42', '"str"', 'null', '[1,2]', '   ', '', '\r', '{"id":2}\r', '{"id":3}', ''].join('\n');
  const r = await feed([Buffer.from(text)]);
  assert.deepEqual(r.lines, [{ id: 1 }, { id: 2 }, { id: 3 }]);
  assert.deepEqual(r.bad, ['{"id":', 'not json', '42', '"str"', 'null', '[1,2]']);

  // Without onBadLine, bad lines are skipped quietly.
  const quiet = await feed([Buffer.from(text)], { onBadLine: undefined });
  assert.deepEqual(quiet.lines, [{ id: 1 }, { id: 2 }, { id: 3 }]);
});

test('a callback that destroys the stream stops the rest of its chunk (the destroy-on-garbage policy)', async () => {
  const stream = new PassThrough();
  const lines: Msg[] = [];
  new JsonLineReader(stream, { maxLineBytes: 100, onLine: (m) => lines.push(m), onBadLine: () => stream.destroy() });
  stream.write('{"id":1}\nnope\n{"id":2}\n');
  await once(stream, 'close');
  assert.deepEqual(lines, [{ id: 1 }]);
});

test("reads a child's stdout", async () => {
  const script = `const w = (s) => process.stdout.write(s); w('{"a":'); setTimeout(() => { w('"é"}\\n{"b":'); w('2}\\n'); }, 20);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Msg[] = [];
  new JsonLineReader(child.stdout, { maxLineBytes: DEFAULT_MAX_LINE_BYTES, onLine: (m) => lines.push(m) });
  await once(child, 'close');
  assert.deepEqual(lines, [{ a: 'é' }, { b: 2 }]);
});

test('the microvm QMP and agent clients fail their pending requests when a line overflows', async () => {
  const flood = Buffer.alloc(DEFAULT_MAX_LINE_BYTES + 1, 'x');
  const qemuOut = new PassThrough();
  const qmp = new Qmp(new PassThrough(), qemuOut);
  const cmd = qmp.command('stop');
  qemuOut.write('{"return": {}, "id": 99}\n'); // a stray reply is still read
  qemuOut.write(flood);
  await assert.rejects(cmd, /^DriverError: QMP: a line was longer than the limit of 16777216 bytes$/);
  assert.ok(qemuOut.destroyed);
  await assert.rejects(qmp.command('cont'), /QMP: a line was longer/);

  const sock = new PassThrough();
  const agent = new AgentClient(new PassThrough(), sock);
  const { reply } = agent.request('exec');
  sock.write(flood);
  await assert.rejects(reply, /guest agent: a line was longer than the limit/);
  assert.ok(sock.destroyed);
});

test('maxLineBytes must be a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new JsonLineReader(new PassThrough(), { maxLineBytes: bad, onLine: () => {} }), RangeError);
  }
});
