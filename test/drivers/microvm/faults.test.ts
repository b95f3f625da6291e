/**
 * Faults of the microvm driver: exec timeouts the guest handles itself, a hung guest, a panicked guest,
 * a killed QEMU, snapshot disk budget, and no leftovers (QEMU processes, RAM files) after close() or after
 * the parent process is SIGKILLed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WorldFailedError } from '../../../src/base/errors.js';
import type { MicrovmDriver } from '../../../src/drivers/microvm/index.js';
import { alive, driver, HOME, qemusIn, skipReason, waitFor } from './helpers.js';

const skip = await skipReason();

describe('microvm driver: faults', { skip, timeout: 240_000 }, () => {
  let d: MicrovmDriver;
  const exits = new Map<string, string>();
  const heard: string[] = []; // a second listener: listeners add up, each hears every exit once

  before(async () => {
    d = driver({ hangGraceMs: 1500 });
    d.onWorldExit((id, reason) => exits.set(id, reason));
    d.onWorldExit((id) => heard.push(id));
  });
  after(async () => {
    await d?.close();
  });

  test('an exec past its timeout is interrupted in the guest; the world lives on', async () => {
    const w = await d.create({ id: 'f-timeout', memoryMib: 512, vcpus: 1 });
    const r = await d.exec(w, 'n = 0\nwhile True:\n    n += 1', { timeoutMs: 700 });
    assert.equal(r.error?.type, 'TimeoutError');
    assert.equal((await d.exec(w, 'n > 0', {})).value, 'True');
    assert.equal(exits.has('f-timeout'), false);
    await d.destroyWorld(w);
  });

  test('a hung guest (code that will not be interrupted) is killed and the world marked failed', async () => {
    const w = await d.create({ id: 'f-hung', memoryMib: 512, vcpus: 1 });
    const pid = d.processId(w);
    assert.ok(pid);
    const code = 'import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\nwhile True:\n    pass';
    await assert.rejects(d.exec(w, code, { timeoutMs: 500 }), { code: 'WORLD_FAILED' });
    await waitFor('the exit listener', () => exits.has('f-hung'));
    assert.match(exits.get('f-hung') ?? '', /hung/);
    await waitFor('QEMU to be gone', () => !alive(pid));
    await assert.rejects(d.exec(w, '1', {}), { code: 'WORLD_FAILED' });
    await d.destroyWorld(w);
  });

  test('a panicked guest is noticed: QEMU exits, the world is failed', async () => {
    const w = await d.create({ id: 'f-panic', memoryMib: 512, vcpus: 1 });
    await assert.rejects(d.exec(w, 'open("/proc/sysrq-trigger", "w").write("c")', { timeoutMs: 20_000 }), { code: 'WORLD_FAILED' });
    await waitFor('the exit listener', () => exits.has('f-panic'));
    assert.match(exits.get('f-panic') ?? '', /guest (reset|panicked)/);
    await d.destroyWorld(w);
  });

  test('a killed QEMU is noticed and its RAM file removed', async () => {
    const w = await d.create({ id: 'f-kill', memoryMib: 512, vcpus: 1 });
    const pid = d.processId(w) as number;
    const ram = /mem-path=([^,\0]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))?.[1] as string;
    assert.ok(ram && existsSync(ram), `the world's RAM file ${ram} exists`);
    process.kill(pid, 'SIGKILL');
    await waitFor('the exit listener', () => exits.has('f-kill'));
    assert.match(exits.get('f-kill') ?? '', /SIGKILL/);
    await assert.rejects(d.exec(w, '1', {}), { code: 'WORLD_FAILED' });
    await waitFor('its RAM file to go', () => !existsSync(ram));
    await d.destroyWorld(w);
    await d.destroyWorld(w);
    assert.deepEqual(
      heard.filter((id) => id === 'f-kill'),
      ['f-kill'],
      'the second listener heard the exit too, once',
    );
  });

  test('a guest that streams more output for one request than the host accepts fails its own world', async () => {
    const w = await d.create({ id: 'f-flood', memoryMib: 512, vcpus: 1 });
    const other = await d.create({ id: 'f-flood-other', memoryMib: 512, vcpus: 1 });
    // Around the output cap, straight into the agent's channel: 8 MiB of events for this one exec.
    const flood = [
      'import sys',
      'f = sys._getframe()',
      'while "req" not in f.f_locals:',
      '    f = f.f_back',
      'for _ in range(8):',
      '    sys.modules["__main__"]._agent.chan.send({"id": f.f_locals["req"]["id"], "event": "stdout", "data": "x" * (1 << 20)})',
    ].join('\n');
    await assert.rejects(d.exec(w, flood, { onOutput: () => {} }), (e: Error) => e instanceof WorldFailedError && /streamed more output/.test(e.message));
    await waitFor('the exit listener', () => exits.has('f-flood'));
    assert.equal((await d.exec(other, '3', {})).value, '3');
    await Promise.all([d.destroyWorld(w), d.destroyWorld(other)]);
  });

  test('snapshot disk use is bounded and reported', async () => {
    const small = driver({ snapshotBudgetBytes: 150 * 1024 * 1024, spareVms: 0, spareWorlds: 0 });
    try {
      const w = await small.create({ id: 'f-budget', memoryMib: 512, vcpus: 1 });
      const s1 = await small.snapshot(w, 'f-s1');
      assert.ok((s1.sizeBytes ?? 0) > 0);
      await assert.rejects(small.snapshot(w, 'f-s2'), { code: 'CAPACITY' });
      const rep = await small.doctor();
      assert.ok(
        rep.notes.some((n) => /^snapshots: 1 holding [\d.]+ MiB of 150\.0 MiB/.test(n)),
        rep.notes.join('\n'),
      );
      await small.destroySnapshot(s1);
      const s3 = await small.snapshot(w, 'f-s3');
      assert.ok(s3.sizeBytes);
    } finally {
      await small.close();
    }
  });

  test('close() leaves no QEMU process and no RAM file', async () => {
    const other = driver();
    const w = await other.create({ id: 'f-close', memoryMib: 512, vcpus: 1 });
    const s = await other.snapshot(w, 'f-close-s');
    await other.branch(s, { ids: ['f-close-b'], memoryMib: 512, sameRandom: false });
    const run = (await other.runDirectory()) as string;
    const pids = other.processIds();
    assert.ok(pids.length >= 2);
    await other.close();
    assert.deepEqual(pids.filter(alive), []);
    assert.equal(existsSync(run), false);
    assert.deepEqual(qemusIn(run), []);
    const closed = { code: 'RUNTIME_CLOSED' };
    await assert.rejects(other.create({ id: 'late', memoryMib: 512, vcpus: 1 }), closed);
    await assert.rejects(other.exec(w, '1', {}), closed);
    await assert.rejects(other.run(w, 'true', {}), closed);
    await assert.rejects(other.writeFile(w, 'f', new Uint8Array(1)), closed);
    await assert.rejects(other.readFile(w, 'f'), closed);
    await assert.rejects(other.snapshot(w, 'late-s'), closed);
    await assert.rejects(other.branch(s, { ids: ['late-b'], memoryMib: 512, sameRandom: false }), closed);
    // Everything is gone already: destroying it again resolves.
    await other.destroyWorld(w);
    await other.destroySnapshot(s);
  });

  test('a SIGKILLed parent leaves no QEMU process and no RAM file', async () => {
    const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'parent.js');
    const child = spawn(process.execPath, [fixture, HOME], {
      env: { ...process.env, MICROVM_PARENT_FIXTURE: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.includes('\n')) resolve(buf.split('\n')[0] as string);
      });
      child.on('exit', (code) => reject(new Error(`fixture exited with ${code} before it was ready`)));
    });
    const { runDir, pids } = JSON.parse(line) as { runDir: string; pids: number[] };
    assert.ok(pids.length >= 3, `fixture runs worlds: ${pids}`);
    assert.ok(existsSync(runDir));
    assert.ok(readdirSync(runDir).some((f) => f.endsWith('.ram')));
    child.kill('SIGKILL');
    await waitFor('every QEMU of the killed parent to die', () => pids.every((p) => !alive(p)), 10_000);
    await waitFor('its run directory (RAM files) to be removed', () => !existsSync(runDir), 10_000);
    assert.deepEqual(qemusIn(runDir), []);
  });
});
