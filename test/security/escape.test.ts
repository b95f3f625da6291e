/**
 * Attempts to outlive or break a world's end: processes that leave its session (setsid, double forks),
 * ignore SIGTERM, hold its control connection, keep writing its files while it is destroyed, or fork
 * without end. Guaranteed (docs/security.md): destroy, timeouts and close end every process the world (or
 * the command) started within a bounded time, destroy always resolves, and nothing a world does in its
 * tear-down escapes as an error of the runtime.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { processesIn, worldTag } from '../fixtures/runtime.js';
import { waitFor } from '../fixtures/wait.js';
import { noWorldIsolation, withWorlds } from './helpers.js';

const skip = noWorldIsolation;

test('destroy ends setsid, double-forked, SIGTERM-ignoring and connection-holding processes', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const tag = await worldTag(w);
    await w.run('setsid -f sleep 1000; (trap "" TERM; setsid sleep 1000 &) ; nohup sleep 1000 >/dev/null 2>&1 &');
    await w.exec(
      `import os, time
# A double fork into a new session that keeps the world's control connection (fd 1000) open.
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(1)
    os._exit(0)`,
    );
    await waitFor(() => `the escapees to be running (${processesIn(tag).length} processes)`, () => processesIn(tag).length >= 5);
    await w.destroy();
    assert.deepEqual(processesIn(tag), [], 'a process of the world outlived destroy');
    // The runtime carries on.
    assert.equal((await (await rt.create()).exec('1')).value, '1');
  }),
);

test('a world writing its files as fast as it can while destroyed does not hurt the runtime', { skip }, () =>
  withWorlds(async (rt) => {
    const errors: unknown[] = [];
    const onError = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onError);
    try {
      const w = await rt.create();
      const tag = await worldTag(w);
      await w.run("for i in 1 2 3 4; do (setsid sh -c 'n=0; while :; do mkdir -p /world/d$n /tmp/d$n; : > /world/d$n/f; n=$((n+1)); done' &) ; done");
      await waitFor(() => `the escapees to be running (${processesIn(tag).length} processes)`, () => processesIn(tag).length >= 5);
      await w.destroy();
      assert.deepEqual(processesIn(tag), []);
      const [b] = await rt.branch(await (await rt.create()).snapshot(), 1);
      assert.equal((await b?.exec('2 + 2'))?.value, '4');
    } finally {
      process.off('uncaughtException', onError);
    }
    assert.deepEqual(errors, []);
  }),
);

test('a fork bomb is stopped at the world\u2019s process limit, and destroy ends all of it', { skip }, () =>
  withWorlds(async (rt) => {
    const bomber = await rt.create();
    const other = await rt.create();
    const tag = await worldTag(bomber);
    // Its shell gives up when forks start failing at the limit; what it already forked stays, bounded.
    await bomber.run('bomb() { bomb | bomb; }; bomb', { timeoutMs: 3000 });
    assert.ok(processesIn(tag).length <= 512 + 1, `the world holds ${processesIn(tag).length} processes`);
    assert.equal((await other.exec('1 + 1')).value, '2');
    await bomber.destroy();
    assert.deepEqual(processesIn(tag), []);
  }),
);

test('a command\u2019s timeout ends everything it started, also what left its process group', { skip }, () =>
  withWorlds(async (rt) => {
    const bomber = await rt.create();
    const other = await rt.create();
    const tag = await worldTag(bomber);
    await bomber.run('sleep 1000 &'); // an older background job, which the timeout below must leave alone
    // The bomb runs in a background subshell and the command's own shell only waits (a builtin): a shell that
    // cannot fork gives up, so one that forked during the bomb could end before its timeout.
    const r = await bomber.run('sleep 60 & (bomb() { bomb | bomb; }; bomb) & wait', { timeoutMs: 3000 });
    assert.ok(r.timedOut);
    assert.equal((await other.exec('1 + 1')).value, '2');
    await waitFor(() => `the bomb's processes to end (${processesIn(tag).length - 2} left)`, () => processesIn(tag).length === 2);
    // One that leaves the command's process group and session as it goes: the timeout still ends all of it.
    const escaping =
      'import os, time\nwhile True:\n    try:\n        if os.fork() == 0:\n            os.setsid()\n    except OSError:\n        time.sleep(0.01)';
    const r2 = await bomber.run(['python3', '-c', escaping], { timeoutMs: 3000 });
    assert.ok(r2.timedOut);
    await waitFor(() => `the escaping bomb's processes to end (${processesIn(tag).length - 2} left)`, () => processesIn(tag).length === 2);
    assert.equal((await bomber.exec('2 + 2')).value, '4');
    // A bomb left running in the background, then destroy.
    await bomber.run('bomb() { bomb | bomb & }; bomb');
    assert.equal((await other.exec('3 + 3')).value, '6');
    await bomber.destroy();
    assert.deepEqual(processesIn(tag), []);
  }),
);
