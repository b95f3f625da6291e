import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withRuntime } from '../fixtures/runtime.js';

test('exec keeps Python state across calls and returns the trailing expression', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const a = await w.exec('import math\nx = 41\nprint("hello")');
    assert.equal(a.stdout, 'hello\n');
    assert.equal(a.value, undefined);
    assert.equal(a.error, undefined);
    const b = await w.exec('x + 1');
    assert.equal(b.value, '42');
    assert.equal((await w.exec('math.floor(2.5)')).value, '2');
    assert.equal((await w.exec('"s"')).value, "'s'");
    assert.ok(b.durationMs >= 0);
  }));

test('syntax errors, exceptions and SystemExit come back as error and the world lives on', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const syn = await w.exec('def (:');
    assert.equal(syn.error?.type, 'SyntaxError');
    const exc = await w.exec('y = 1\nraise ValueError("bad value")');
    assert.equal(exc.error?.type, 'ValueError');
    assert.equal(exc.error?.message, 'bad value');
    assert.match(exc.error?.traceback ?? '', /File "<exec>", line 2/);
    assert.doesNotMatch(exc.error?.traceback ?? '', /agent\.py/, "the agent's own frames are hidden");
    const exit = await w.exec('import sys; sys.exit(3)');
    assert.equal(exit.error?.type, 'SystemExit');
    assert.equal((await w.exec('y')).value, '1');
    assert.equal(w.state, 'running');
  }));

test('stderr and output written straight to file descriptors are captured', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const r = await w.exec('import sys, os\nprint("to err", file=sys.stderr)\nos.system("echo from-shell")');
    assert.equal(r.stderr, 'to err\n');
    assert.match(r.stdout, /from-shell/);
  }));

test('an exec past its timeout is interrupted and the world stays usable', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.exec('n = 7');
    const r = await w.exec('while True:\n    pass', { timeoutMs: 300 });
    assert.equal(r.error?.type, 'TimeoutError');
    assert.match(r.error?.message ?? '', /300 ms/);
    assert.equal(w.state, 'running');
    assert.equal((await w.exec('n')).value, '7');
  }));

test('an exec that will not stop is killed and its world marked failed', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const other = await rt.create();
    const stubborn = 'import time\nwhile True:\n    try:\n        time.sleep(10)\n    except KeyboardInterrupt:\n        pass';
    await assert.rejects(w.exec(stubborn, { timeoutMs: 200 }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'WORLD_FAILED');
      assert.match(err.message, /did not stop/);
      return true;
    });
    assert.equal(w.state, 'failed');
    await assert.rejects(w.exec('1'), { code: 'WRONG_STATE' });
    assert.equal((await other.exec('2')).value, '2');
  }));

test('output beyond the 1 MiB cap is cut and flagged, for exec and run', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const r = await w.exec('print("x" * (3 * 1024 * 1024))');
    assert.equal(r.truncated, true);
    assert.ok(r.stdout.length <= 1024 * 1024, `kept ${r.stdout.length}`);
    assert.ok(r.stdout.length > 1000 * 1000);
    const small = await w.exec('print("ok")');
    assert.equal(small.truncated, false);
    const run = await w.run(['/usr/bin/python3', '-c', 'print("y" * (2 * 1024 * 1024))']);
    assert.equal(run.truncated, true);
    assert.equal(run.exitCode, 0);
    assert.ok(run.stdout.length <= 1024 * 1024);
  }));

test('output streams through onOutput while the code runs', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const chunks: string[] = [];
    const r = await w.exec('import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.05)', {
      onOutput: (stream, chunk) => chunks.push(`${stream}:${chunk}`),
    });
    assert.equal(r.stdout, '0\n1\n2\n');
    assert.ok(chunks.join('').includes('stdout:0'));
    assert.ok(chunks.length >= 3);
  }));

test('run executes commands in the world directory with exit codes, env and timeouts', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    const r = await w.run('echo $GREETING; pwd; exit 3', { env: { GREETING: 'hi' } });
    assert.equal(r.exitCode, 3);
    assert.match(r.stdout, /^hi\n/);
    await w.writeFile('sub/f.txt', 'x');
    const cwd = await w.run(['ls'], { cwd: 'sub' });
    assert.equal(cwd.stdout, 'f.txt\n');
    // A background child keeps the pipes open; run returns when the command itself exits.
    const bg = await w.run('sleep 30 & echo started', { timeoutMs: 5000 });
    assert.equal(bg.timedOut, false);
    assert.equal(bg.stdout, 'started\n');
    const slow = await w.run('sleep 30', { timeoutMs: 300 });
    assert.equal(slow.timedOut, true);
    assert.equal(slow.exitCode, null);
    await assert.rejects(w.run([]), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(w.run('true', { cwd: '../..' }), { code: 'INVALID_ARGUMENT' });
  }));
