// The host side of the world agents' protocol (src/drivers/agent-protocol.ts): what each error code becomes,
// and that a malformed reply (a hostile world can forge any) becomes a DriverError naming the field, never a
// crash nor a value of the wrong type.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiskFullError, DriverError, FileNotFoundError, ForkRefusedError, InvalidArgumentError } from '../../src/base/errors.js';
import {
  agentError,
  decodeExecResult,
  decodeMessage,
  decodeRunResult,
  FILE_CHUNK_BYTES,
  outputEvents,
  readWorldFile,
  writeWorldFile,
} from '../../src/drivers/agent-protocol.js';

const exec = { stdout: 'out', stderr: '', truncated: false, durationMs: 1.5 };
const run = { exitCode: 0, stdout: '', stderr: 'err', truncated: true, timedOut: false, durationMs: 3 };

test('each error code becomes its class; any other code is a DriverError', () => {
  const cases: [string, new (...a: never[]) => Error, string][] = [
    ['INVALID_ARGUMENT', InvalidArgumentError, 'INVALID_ARGUMENT'],
    ['FILE_NOT_FOUND', FileNotFoundError, 'FILE_NOT_FOUND'],
    ['DISK_FULL', DiskFullError, 'DISK_FULL'],
    ['FORK_REFUSED', ForkRefusedError, 'FORK_REFUSED'],
    ['DRIVER', DriverError, 'DRIVER'],
  ];
  for (const [code, cls, runtimeCode] of cases) {
    const e = agentError(code, 'why');
    assert.ok(e instanceof cls, code);
    assert.equal(e.code, runtimeCode);
    assert.equal(e.message, 'why');
  }
  // A world must not pass its error off as one of the runtime's own (closed, not found, ...).
  for (const code of ['RUNTIME_CLOSED', 'WORLD_NOT_FOUND', 'toString', '__proto__', 'BIRTH', 42, null, undefined]) {
    const e = agentError(code, 'made up');
    assert.ok(e instanceof DriverError, String(code));
    assert.equal(e.message, 'made up');
  }
  assert.match(agentError('DISK_FULL', { not: 'a string' }).message, /agent error DISK_FULL/);
});

test('exec and run replies: kept field by field, nothing else', () => {
  assert.deepEqual(decodeExecResult({ ...exec, extra: 'dropped' }, 'w1'), exec);
  const full = { ...exec, value: "'x'", error: { type: 'ValueError', message: 'm', traceback: 'tb' } };
  assert.deepEqual(decodeExecResult(full, 'w1'), full);
  assert.deepEqual(decodeRunResult({ ...run, junk: 1 }, 'w1'), run);
  assert.deepEqual(decodeRunResult({ ...run, exitCode: null, signal: 'SIGKILL' }, 'w1'), { ...run, exitCode: null, signal: 'SIGKILL' });
});

test('a malformed exec or run reply is a DriverError naming the world and the field', () => {
  const badExec: [unknown, RegExp][] = [
    [null, /the reply is null/],
    [[1, 2], /the reply is an array/],
    ['text', /the reply is string/],
    [{ ...exec, stdout: 5 }, /stdout is number/],
    [{ ...exec, stderr: undefined }, /stderr is undefined/],
    [{ ...exec, truncated: 'no' }, /truncated is string/],
    [{ ...exec, durationMs: -1 }, /durationMs/],
    [{ ...exec, durationMs: Number.NaN }, /durationMs/],
    [{ ...exec, value: 42 }, /value is number/],
    [{ ...exec, error: 'boom' }, /error is string/],
    [{ ...exec, error: { type: 'E', message: 'm' } }, /error\.traceback is undefined/],
  ];
  for (const [raw, why] of badExec) {
    assert.throws(
      () => decodeExecResult(raw, 'w-bad'),
      (e: Error) => e instanceof DriverError && /world w-bad .*exec reply/.test(e.message) && why.test(e.message),
    );
  }
  const badRun: [unknown, RegExp][] = [
    [{ ...run, exitCode: '0' }, /exitCode is string/],
    [{ ...run, exitCode: 1.5 }, /exitCode is number/],
    [{ ...run, exitCode: undefined }, /exitCode is undefined/],
    [{ ...run, timedOut: 1 }, /timedOut is number/],
    [{ ...run, signal: 9 }, /signal is number/],
  ];
  for (const [raw, why] of badRun) {
    assert.throws(
      () => decodeRunResult(raw, 'w-bad'),
      (e: Error) => e instanceof DriverError && /run reply/.test(e.message) && why.test(e.message),
    );
  }
});

test('the envelope: events, results, errors, and lines that answer nothing', () => {
  assert.deepEqual(decodeMessage({ id: 3, event: 'stdout', data: 'x' }), { kind: 'event', id: 3, event: 'stdout', data: 'x' });
  assert.deepEqual(decodeMessage({ id: 3, event: 'stdout', data: 7 }), { kind: 'event', id: 3, event: 'stdout', data: '' });
  assert.deepEqual(decodeMessage({ id: 4, ok: true, result: { a: 1 } }), { kind: 'result', id: 4, result: { a: 1 } });
  assert.deepEqual(decodeMessage({ id: 4, ok: true }), { kind: 'result', id: 4, result: {} });
  assert.deepEqual(decodeMessage({ id: 5, ok: false, error: { code: 'DISK_FULL', message: 'm' } }), { kind: 'error', id: 5, code: 'DISK_FULL', message: 'm' });
  assert.deepEqual(decodeMessage({ id: 5, ok: 'yes', error: 'x' }), { kind: 'error', id: 5, code: undefined, message: undefined });
  for (const msg of [{}, { id: '5', ok: true }, { id: 1.5, ok: true }, { fatal: 'x' }]) assert.deepEqual(decodeMessage(msg), { kind: 'unsolicited' });
});

test('output events: only stdout and stderr reach the caller; its exceptions stay its own', () => {
  const seen: string[] = [];
  const on = outputEvents((stream, chunk) => {
    seen.push(`${stream}:${chunk}`);
    if (chunk === 'throw') throw new Error('the caller failed');
  });
  assert.ok(on);
  on('stdout', 'a');
  on('data', 'b');
  on('exit', 'c');
  on('stderr', 'throw');
  assert.deepEqual(seen, ['stdout:a', 'stderr:throw']);
  assert.equal(outputEvents(undefined), undefined);
});

/** A fake agent: serves write_file/read_file from a map, as agent/protocol.py does. */
function fakeAgent(override?: (op: string, args: Record<string, unknown>, onEvent?: (ev: string, data: string) => void) => unknown) {
  const files = new Map<string, Buffer>();
  let upload: Buffer[] = [];
  const calls: string[] = [];
  const request = async (op: string, args: Record<string, unknown>, onEvent?: (ev: string, data: string) => void) => {
    calls.push(op);
    if (override) return override(op, args, onEvent);
    if (op === 'write_file') {
      if (args.first) upload = [];
      upload.push(Buffer.from(String(args.data), 'base64'));
      if (args.last) files.set(String(args.path), Buffer.concat(upload));
      return {};
    }
    const data = files.get(String(args.path)) ?? Buffer.alloc(0);
    for (let o = 0; o < data.length; o += FILE_CHUNK_BYTES) onEvent?.('data', data.subarray(o, o + FILE_CHUNK_BYTES).toString('base64'));
    return { size: data.length };
  };
  return { request, files, calls };
}

test('files go in chunks both ways; a reply that lies about the size is refused', async () => {
  const a = fakeAgent();
  const data = Buffer.alloc(FILE_CHUNK_BYTES * 2 + 7, 9);
  await writeWorldFile(a.request, 'f', data);
  assert.deepEqual(a.calls, ['write_file', 'write_file', 'write_file']);
  assert.ok(Buffer.from(await readWorldFile(a.request, 'f', 'w1')).equals(data));
  await writeWorldFile(a.request, 'empty', new Uint8Array());
  assert.equal((await readWorldFile(a.request, 'empty', 'w1')).length, 0);

  const lies = fakeAgent((_op, _args, onEvent) => {
    onEvent?.('data', Buffer.from('abc').toString('base64'));
    return { size: 10 };
  });
  await assert.rejects(
    readWorldFile(lies.request, 'f', 'w-liar'),
    (e: Error) => e instanceof DriverError && /w-liar sent 3 bytes .* but said 10/.test(e.message),
  );
  for (const reply of [{}, { size: -1 }, { size: 'many' }, null]) {
    const bad = fakeAgent(() => reply);
    await assert.rejects(
      readWorldFile(bad.request, 'f', 'w-bad'),
      (e: Error) => e instanceof DriverError && /read_file reply: (size|the reply)/.test(e.message),
    );
  }
});
