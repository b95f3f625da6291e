/**
 * The microvm driver through the Driver interface: create, exec, run, files, snapshot, branch, destroy;
 * divergence of branches in memory and files; clock and randomness after a restore; what a guest can see;
 * memoryMib and vcpus. Runs under whatever accelerator `auto` picks (TCG on machines without usable KVM).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DriverError } from '../../../src/base/errors.js';
import { WorldRuntime } from '../../../src/core/runtime.js';
import { DEFAULT_TIMEOUT_MS } from '../../../src/drivers/driver.js';
import type { MicrovmDriver } from '../../../src/drivers/microvm/index.js';
import { driver, HOME, skipReason } from './helpers.js';

const skip = await skipReason();

describe('microvm driver: worlds', { skip, timeout: 240_000 }, () => {
  let d: MicrovmDriver;
  const exits: [string, string][] = [];

  before(async () => {
    d = driver();
    d.onWorldExit((id, reason) => exits.push([id, reason]));
  });
  after(async () => {
    await d?.close();
  });

  test('create answers, exec keeps globals and returns the trailing value', async () => {
    const w = await d.create({ id: 'w-basic', memoryMib: 512, vcpus: 1 });
    const r1 = await d.exec(w, 'x = 20\nprint("hi")\nx * 2', {});
    assert.equal(r1.stdout, 'hi\n');
    assert.equal(r1.value, '40');
    assert.equal(r1.error, undefined);
    assert.equal(r1.truncated, false);
    assert.ok(r1.durationMs >= 0);
    const r2 = await d.exec(w, 'x + 1', {});
    assert.equal(r2.value, '21');
    const r3 = await d.exec(w, 'import sys\nsys.stderr.write("oops\\n")\n1/0', {});
    assert.equal(r3.stderr, 'oops\n');
    assert.equal(r3.error?.type, 'ZeroDivisionError');
    assert.match(r3.error?.traceback ?? '', /ZeroDivisionError/);
    const r4 = await d.exec(w, 'print(1)\nNone', {});
    assert.equal(r4.value, undefined);
    const r5 = await d.exec(w, 'def f(:', {});
    assert.equal(r5.error?.type, 'SyntaxError');
    const big = await d.exec(w, 'print("a" * (2 * 1024 * 1024))', {});
    assert.equal(big.truncated, true);
    assert.ok(big.stdout.length <= 1024 * 1024);
    await d.destroyWorld(w);
  });

  test('run: shell and argv, exit codes, cwd and env, timeout', async () => {
    const w = await d.create({ id: 'w-run', memoryMib: 512, vcpus: 1 });
    const r = await d.run(w, 'echo out; echo err >&2; exit 3', {});
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.equal(r.exitCode, 3);
    assert.equal(r.timedOut, false);
    const a = await d.run(w, ['sh', '-c', 'echo "$FOO" && pwd'], { env: { FOO: 'bar' } });
    assert.equal(a.stdout, 'bar\n/world\n');
    await d.run(w, 'mkdir -p sub', {});
    const c = await d.run(w, 'pwd', { cwd: 'sub' });
    assert.equal(c.stdout, '/world/sub\n');
    const t = await d.run(w, 'sleep 30', { timeoutMs: 500 });
    assert.equal(t.timedOut, true);
    assert.equal(t.exitCode, null);
    assert.equal(t.signal, 'SIGKILL');
    const streamed: string[] = [];
    await d.run(w, 'echo one; echo two', { onOutput: (_s, chunk) => streamed.push(chunk) });
    assert.equal(streamed.join(''), 'one\ntwo\n');
    await d.destroyWorld(w);
  });

  test('files: write, read, nested paths; no way out of the world directory', async () => {
    const w = await d.create({ id: 'w-files', memoryMib: 512, vcpus: 1 });
    const data = new Uint8Array([0, 1, 2, 255, 10, 13]);
    await d.writeFile(w, 'dir/a.bin', data);
    assert.deepEqual(await d.readFile(w, 'dir/a.bin'), data);
    assert.deepEqual(await d.readFile(w, '/world/dir/a.bin'), data);
    const seen = await d.exec(w, 'open("/world/dir/a.bin","rb").read()', {});
    assert.equal(seen.value, "b'\\x00\\x01\\x02\\xff\\n\\r'");
    await assert.rejects(d.readFile(w, '../etc/passwd'), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(d.writeFile(w, '/etc/x', data), { code: 'INVALID_ARGUMENT' });
    await d.run(w, 'ln -s /etc escape', {});
    await assert.rejects(d.readFile(w, 'escape/passwd'), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(d.readFile(w, 'missing.txt'), { code: 'FILE_NOT_FOUND' });
    await assert.rejects(d.readFile(w, 'dir'), { code: 'FILE_NOT_FOUND' });
    // /world is a tmpfs in guest RAM: once it is full, a write is DISK_FULL and leaves no partial file.
    await d.run(w, 'dd if=/dev/zero of=fill bs=1M count=1024 2>/dev/null; true', {});
    await assert.rejects(d.writeFile(w, 'late.bin', new Uint8Array(1 << 20)), { code: 'DISK_FULL' });
    assert.equal((await d.run(w, 'ls -A | grep -c -e late.bin -e .wr-upload; true', {})).stdout, '0\n');
    await d.destroyWorld(w);
  });

  test('a forged reply that breaks the protocol is a DriverError; the world and the driver live on', async () => {
    const w = await d.create({ id: 'w-forge', memoryMib: 512, vcpus: 1 });
    // Guest code is root and can reach the agent's channel: answer the exec it runs in, wrongly.
    const forge = (reply: string) =>
      [
        'import sys',
        'f = sys._getframe()',
        'while "req" not in f.f_locals:',
        '    f = f.f_back',
        `sys.modules["__main__"]._agent.chan.send(dict(${reply}, id=f.f_locals["req"]["id"]))`,
      ].join('\n');
    await assert.rejects(
      d.exec(w, forge('{"ok": True, "result": {"stdout": 5, "stderr": "", "truncated": False, "durationMs": 1}}'), {}),
      (e: Error) => e instanceof DriverError && /world w-forge sent a malformed exec reply: stdout is number/.test(e.message),
    );
    await assert.rejects(
      d.exec(w, forge('{"ok": False, "error": {"code": "WORLD_NOT_FOUND", "message": "forged"}}'), {}),
      (e: Error) => e instanceof DriverError && e.message === 'forged',
    );
    const seen: string[] = [];
    const r = await d.exec(w, `print("real")\n${forge('{"event": "data", "data": "not output"}')}`, { onOutput: (s, c) => seen.push(`${s}:${c}`) });
    assert.equal(r.stdout, 'real\n');
    assert.equal(seen.join(''), 'stdout:realstdout:\n');
    assert.equal((await d.exec(w, '1 + 1', {})).value, '2');
    await d.destroyWorld(w);
  });

  test('snapshot keeps the world running; branches diverge in memory and files', async () => {
    const w = await d.create({ id: 'w-src', memoryMib: 512, vcpus: 1 });
    await d.exec(w, 'state = ["base"]', {});
    await d.writeFile(w, 'note.txt', new TextEncoder().encode('base'));
    const s = await d.snapshot(w, 'snap-1');
    assert.ok((s.sizeBytes ?? 0) > 1024 * 1024, 'a snapshot holds the RAM in use');
    // The source keeps running and changing after its snapshot.
    await d.exec(w, 'state.append("source-after")', {});
    const [b1, b2] = await d.branch(s, { ids: ['b-1', 'b-2'], memoryMib: 512, sameRandom: false });
    assert.ok(b1 && b2);
    await d.exec(b1, 'state.append("one")', {});
    await d.writeFile(b1, 'note.txt', new TextEncoder().encode('one'));
    await d.exec(b2, 'state.append("two")', {});
    await d.run(b2, 'echo -n two > note.txt && echo extra > only-two.txt', {});
    assert.equal((await d.exec(b1, 'state', {})).value, "['base', 'one']");
    assert.equal((await d.exec(b2, 'state', {})).value, "['base', 'two']");
    assert.equal((await d.exec(w, 'state', {})).value, "['base', 'source-after']");
    assert.equal(new TextDecoder().decode(await d.readFile(b1, 'note.txt')), 'one');
    assert.equal(new TextDecoder().decode(await d.readFile(b2, 'note.txt')), 'two');
    assert.equal(new TextDecoder().decode(await d.readFile(w, 'note.txt')), 'base');
    assert.equal((await d.run(b1, 'test -e only-two.txt', {})).exitCode, 1);
    // A third branch later still starts from the snapshot, not from what branches did.
    const [b3] = await d.branch(s, { ids: ['b-3'], memoryMib: 512, sameRandom: false });
    assert.ok(b3);
    assert.equal((await d.exec(b3, 'state', {})).value, "['base']");
    await Promise.all([b1, b2, b3].map((b) => d.destroyWorld(b)));
    await d.destroySnapshot(s);
    await assert.rejects(d.branch(s, { ids: ['b-4'], memoryMib: 512, sameRandom: false }), { code: 'SNAPSHOT_NOT_FOUND' });
    await d.destroySnapshot(s); // destroy is idempotent
    await d.destroySnapshot({ id: 'never-made' });
    // Branching straight from a running world.
    const [b5] = await d.branch(w, { ids: ['b-5'], memoryMib: 512, sameRandom: false });
    assert.ok(b5);
    assert.equal((await d.exec(b5, 'state', {})).value, "['base', 'source-after']");
    await d.destroyWorld(b5);
    await d.destroyWorld(w);
    await assert.rejects(d.exec(w, '1', {}), { code: 'WORLD_NOT_FOUND' });
    await assert.rejects(d.snapshot(w, 'snap-gone'), { code: 'WORLD_NOT_FOUND' });
    await d.destroyWorld(w); // destroy is idempotent
    await d.destroyWorld({ id: 'never-made' });
  });

  test('exec and run without timeoutMs ask the guest to stop them after DEFAULT_TIMEOUT_MS', async () => {
    const w = await d.create({ id: 'w-default-timeout', memoryMib: 512, vcpus: 1 });
    // The guest enforces an exec's timeout with its interval timer, which the code itself can read.
    const left = Number((await d.exec(w, 'import signal\nsignal.getitimer(signal.ITIMER_REAL)[0]', {})).value);
    assert.ok(left > DEFAULT_TIMEOUT_MS / 1000 - 60 && left <= DEFAULT_TIMEOUT_MS / 1000, `exec timer: ${left} s`);
    // A run's timeout is the guest's run_command argument: note it on its way through.
    const spy = [
      'import sys',
      'm = sys.modules["worldexec"]',
      'real = m.run_command',
      'def spy(argv, cwd, env, timeout_ms, *a, **k):',
      '    global asked',
      '    asked = timeout_ms',
      '    return real(argv, cwd, env, timeout_ms, *a, **k)',
      'm.run_command = spy',
    ].join('\n');
    await d.exec(w, spy, {});
    assert.equal((await d.run(w, 'true', {})).exitCode, 0);
    assert.equal((await d.exec(w, 'asked', {})).value, String(DEFAULT_TIMEOUT_MS));
    assert.equal((await d.run(w, 'true', { timeoutMs: 1234 })).exitCode, 0);
    assert.equal((await d.exec(w, 'asked', {})).value, '1234');
    await d.destroyWorld(w);
  });

  test('restored worlds: clock set to now, randomness reseeded unless sameRandom', async () => {
    const w = await d.create({ id: 'w-rand', memoryMib: 512, vcpus: 1 });
    await d.exec(w, 'import random, os, time', {});
    const s = await d.snapshot(w, 'snap-rand');
    await new Promise((r) => setTimeout(r, 2500));
    const bs = await d.branch(s, { ids: ['r-1', 'r-2'], memoryMib: 512, sameRandom: false });
    const draws = await Promise.all(bs.map((b) => d.exec(b, '(random.random(), os.urandom(8).hex(), time.time())', {})));
    const parsed = draws.map((r) => r.value?.replace(/[()' ]/g, '').split(',') ?? []);
    assert.notEqual(parsed[0]?.[0], parsed[1]?.[0], 'python random differs between branches');
    assert.notEqual(parsed[0]?.[1], parsed[1]?.[1], 'kernel randomness differs between branches');
    for (const p of parsed) {
      const skew = Math.abs(Number(p[2]) - Date.now() / 1000);
      assert.ok(skew < 2, `guest clock is ${skew.toFixed(2)} s off the host's after a restore`);
    }
    const same = await d.branch(s, { ids: ['r-3', 'r-4'], memoryMib: 512, sameRandom: true });
    const sameDraws = await Promise.all(same.map((b) => d.exec(b, 'random.random()', {})));
    assert.equal(sameDraws[0]?.value, sameDraws[1]?.value, 'sameRandom keeps the random streams');
    await Promise.all([...bs, ...same, w].map((b) => d.destroyWorld(b)));
    await d.destroySnapshot(s);
  });

  test('a guest sees its own directory and a read-only python image, not the host; no network', async () => {
    const w = await d.create({ id: 'w-see', memoryMib: 512, vcpus: 1 });
    const r = await d.run(
      w,
      'ls /; echo ---; ls /usr; echo ---; ls /sys/class/net; echo ---; touch /usr/x 2>&1; echo ---; ls /home /root 2>&1; cat /proc/mounts',
      {},
    );
    const [root = '', usr = '', net = '', ro = '', rest = ''] = r.stdout.split('---\n');
    assert.ok(!root.includes('home'), `no /home in the guest: ${root}`);
    assert.deepEqual(
      usr
        .trim()
        .split(/\s+/)
        .filter((n) => n !== 'lost+found')
        .sort(),
      ['bin', 'lib', 'lib64'],
    );
    assert.equal(net.trim(), 'lo');
    assert.match(ro, /Read-only file system/);
    assert.ok(!/ (9p|virtiofs|nfs|fuse)/.test(rest), `no host file system is shared: ${rest}`);
    await d.destroyWorld(w);
  });

  test('memoryMib and vcpus are honoured', async () => {
    const w = await d.create({ id: 'w-size', memoryMib: 256, vcpus: 2 });
    const r = await d.exec(w, 'import os\n(os.cpu_count(), int(open("/proc/meminfo").readline().split()[1]) // 1024)', {});
    const [cpus, memMib] = (r.value ?? '').replace(/[() ]/g, '').split(',').map(Number);
    assert.equal(cpus, 2);
    assert.ok(memMib !== undefined && memMib > 180 && memMib <= 256, `MemTotal ${memMib} MiB for a 256 MiB world`);
    await d.destroyWorld(w);
    await assert.rejects(d.create({ id: 'w-tiny', memoryMib: 16, vcpus: 1 }), { code: 'INVALID_ARGUMENT' });
  });

  test('WorldRuntime.open hands its microvm options to the driver', async () => {
    const microvm = { spareWorlds: 0, spareVms: 3, hangGraceMs: 1500, snapshotBudgetBytes: 200 * 1024 * 1024 };
    const rt = await WorldRuntime.open({ home: HOME, driver: 'microvm', record: false, warn: () => {}, microvm });
    try {
      assert.equal(rt.driver.name, 'microvm');
      const w = await rt.create();
      assert.equal((await w.exec('6 * 7')).value, '42');
      const rep = await rt.driver.doctor();
      assert.deepEqual({ ...(rep.pools as object), ready: undefined }, { spareWorlds: 0, spareVms: 3, ready: undefined });
      assert.equal(rep.hangGraceMs, 1500);
      assert.equal(rep.snapshotBudgetBytes, 200 * 1024 * 1024);
    } finally {
      await rt.close();
    }
  });

  test('doctor reports the accelerator and why, QEMU, assets, snapshot use', async () => {
    const rep = await d.doctor();
    assert.equal(rep.driver, 'microvm');
    assert.equal(rep.available, true);
    assert.ok(rep.accel === 'tcg' || rep.accel === 'kvm');
    assert.ok(
      rep.notes.some((n) => /^accelerator: (TCG|KVM)/.test(n) && /:/.test(n.slice(13))),
      rep.notes.join('\n'),
    );
    assert.ok(rep.notes.some((n) => n.startsWith('QEMU ')));
    assert.ok(rep.notes.some((n) => n.startsWith('snapshots: ')));
    assert.ok(
      rep.notes.some((n) => /^pools per \(memory, vcpus\) shape in use: 1 spare world\(s\) for create, 2 spare VM\(s\) for restores/.test(n)),
      rep.notes.join('\n'),
    );
    assert.equal(exits.length, 0, `no world exited on its own: ${JSON.stringify(exits)}`);
  });
});
