/**
 * Commands through the real `e2b` SDK against a real daemon: run with streamed output and exit codes
 * (CommandExitError), background commands with wait, stdin, kill, list and reconnecting by pid, the
 * Start timeout, environment and working directory, and the refusals (PTY, another user).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandExitError, Sandbox, SandboxError, TimeoutError } from 'e2b';
import { rejection, waitFor, withSandbox } from './helpers.js';

describe('commands through the e2b SDK', () => {
  let sbx: Sandbox;
  withSandbox(async () => (sbx = await Sandbox.create({ envs: { SANDBOX_WIDE: 'from-create' } })));

  it('runs a command and streams its output as it comes', async () => {
    const r = await sbx.commands.run('echo "Hello, World!"; echo oops >&2');
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'Hello, World!\n');
    assert.equal(r.stderr, 'oops\n');
    const chunks: string[] = [];
    // Each line is written only after the previous one reached us, so they must arrive one by one.
    const streamed = await sbx.commands.run('for i in 1 2 3; do echo line$i; while [ ! -e /tmp/ack$i ]; do sleep 0.01; done; done', {
      onStdout: async (d) => {
        chunks.push(d);
        await sbx.files.write(`/tmp/ack${chunks.length}`, '');
      },
    });
    assert.deepEqual(chunks, ['line1\n', 'line2\n', 'line3\n']);
    assert.equal(streamed.stdout, 'line1\nline2\nline3\n');
  });

  it('a failing command is a CommandExitError with its exit code and output', async () => {
    const err = await rejection(sbx.commands.run('echo partial; exit 3'));
    assert.ok(err instanceof CommandExitError, `${err.name}: ${err.message}`);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stdout, 'partial\n');
    assert.equal(err.error, 'exit status 3');
  });

  it('passes environment variables and the working directory', async () => {
    const r = await sbx.commands.run('echo "$SANDBOX_WIDE $ONLY_HERE $(pwd)"', { envs: { ONLY_HERE: 'per-command' }, cwd: '/tmp' });
    assert.equal(r.stdout, 'from-create per-command /tmp\n');
    await sbx.commands.run('mkdir -p sub && echo -n x > sub/f');
    assert.equal((await sbx.commands.run('cat f', { cwd: '/home/user/sub' })).stdout, 'x', '/home/user is the world home');
    assert.equal((await sbx.commands.run('pwd')).stdout, '/world\n');
  });

  it('background commands: stdin, list, wait, kill', async () => {
    const cat = await sbx.commands.run('cat', { background: true, stdin: true });
    assert.ok(cat.pid > 0);
    await sbx.commands.sendStdin(cat.pid, 'Hello, ');
    await cat.sendStdin(new TextEncoder().encode('stdin!'));
    await waitFor('cat to echo its stdin', () => cat.stdout === 'Hello, stdin!', 20_000);
    const listed = await sbx.commands.list();
    const mine = listed.find((p) => p.pid === cat.pid);
    assert.ok(mine, JSON.stringify(listed));
    assert.equal(mine.cmd, '/bin/bash');
    assert.deepEqual(mine.args, ['-l', '-c', 'cat']);
    await sbx.commands.closeStdin(cat.pid);
    const done = await cat.wait();
    assert.equal(done.exitCode, 0);
    assert.equal(done.stdout, 'Hello, stdin!');
    assert.ok(!(await sbx.commands.list()).some((p) => p.pid === cat.pid), 'an ended command is not listed');

    const sleeper = await sbx.commands.run('sleep 60', { background: true });
    assert.equal(await sbx.commands.kill(sleeper.pid), true);
    const killed = await rejection(sleeper.wait());
    assert.ok(killed instanceof CommandExitError);
    assert.equal(killed.exitCode, -1);
    assert.equal(killed.error, 'signal: killed');
    assert.equal(await sbx.commands.kill(sleeper.pid), false, 'a pid that is gone answers false');
  });

  it('reconnects to a running command by pid and gets what it writes from then on', async () => {
    const proc = await sbx.commands.run('while [ ! -e /tmp/stop ]; do echo tick; sleep 0.02; done; echo stopped', { background: true });
    await waitFor('first output', () => proc.stdout.includes('tick'), 20_000);
    await proc.disconnect();
    const again = await sbx.commands.connect(proc.pid);
    assert.equal(again.pid, proc.pid);
    await sbx.files.write('/tmp/stop', '');
    const r = await again.wait();
    assert.match(r.stdout, /stopped\n$/);
    await assert.rejects(sbx.commands.connect(99999), SandboxError);
  });

  it("a command that outlives its timeout is killed, and the SDK's wait says so", async () => {
    const h = await sbx.commands.run('sleep 30', { background: true, timeoutMs: 500 });
    const err = await rejection(h.wait());
    assert.ok(err instanceof TimeoutError, `${err.name}: ${err.message}`);
    await waitFor('the command to be gone', async () => !(await sbx.commands.list()).some((p) => p.pid === h.pid), 20_000);
  });

  it('refuses a PTY and another user, naming the limit', async () => {
    const pty = await rejection(sbx.pty.create({ cols: 80, rows: 24, onData: () => {} }));
    assert.ok(pty instanceof SandboxError);
    assert.match(pty.message, /pseudo-terminals/);
    const root = await rejection(sbx.commands.run('id', { user: 'root' }));
    assert.ok(root instanceof SandboxError);
    assert.match(root.message, /user "root" is not available/);
  });
});
