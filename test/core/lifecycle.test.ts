import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WorldRuntime } from '../../src/index.js';
import { noProcessesLeft, processesIn, processesMentioning, tempHome, withRuntime, worldTag } from '../fixtures/runtime.js';
import { waitFor } from '../fixtures/wait.js';

const here = dirname(fileURLToPath(import.meta.url));

test('using a destroyed world or snapshot gives a clear error', () =>
  withRuntime(async (rt) => {
    const w = await rt.create({ memoryMib: 384 });
    const s = await w.snapshot();
    await w.destroy();
    assert.equal(w.state, 'destroyed');
    await assert.rejects(w.exec('1'), (err: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.code, 'WRONG_STATE');
      assert.match(err.message, /cannot exec world .* it is destroyed/);
      assert.equal(err.details?.current, 'destroyed');
      return true;
    });
    await w.destroy(); // harmless twice
    // The snapshot outlives the world it came from, and its branches keep that world's size.
    const [k] = await rt.branch(s, 1);
    assert.equal((await k?.exec('1 + 1'))?.value, '2');
    assert.equal(k?.memoryMib, 384);
    await s.destroy();
    await assert.rejects(rt.branch(s, 1), { code: 'WRONG_STATE' });
    assert.throws(() => rt.world(w.id), { code: 'WORLD_NOT_FOUND' });
  }));

test('bad options are refused with the option named', () =>
  withRuntime(async (rt) => {
    await assert.rejects(rt.create({ trit: 2 as never }), /trit must be -1, 0 or 1/);
    await assert.rejects(rt.create({ memoryMib: -1 }), /memoryMib/);
    await assert.rejects(rt.create({ colour: 'red' } as never), /unknown option "colour"/);
    const w = await rt.create();
    await assert.rejects(rt.branch(w, 0), /count must be an integer/);
    await assert.rejects(rt.branch(w, 2, { trits: [1] }), /one trit per branch/);
    await assert.rejects(w.exec('1', { timeoutMs: -5 }), /timeoutMs/);
    await assert.rejects(WorldRuntime.open({ driver: 'vmware' as never }), /driver must be one of/);
  }));

test('a memory hog past memoryMib gets MemoryError and other worlds are untouched', () =>
  withRuntime(async (rt) => {
    const hog = await rt.create({ memoryMib: 64 });
    const other = await rt.create();
    await other.exec('keep = 1');
    const r = await hog.exec('x = bytearray(256 * 1024 * 1024)');
    assert.equal(r.error?.type, 'MemoryError');
    assert.equal((await hog.exec('y = bytearray(8 * 1024 * 1024); len(y)')).value, String(8 * 1024 * 1024));
    const cmd = await hog.run(['/usr/bin/python3', '-c', 'x = bytearray(512 * 1024 * 1024)']);
    assert.notEqual(cmd.exitCode, 0);
    assert.equal((await other.exec('keep')).value, '1');
  }));

test('a fork bomb is stopped at the tree limit without touching other worlds', (t) =>
  withRuntime(async (rt) => {
    const report = (await rt.doctor()).drivers[0] as { processLimit?: number | null };
    if (!report.processLimit) return t.skip('no per-world process limit here (isolation world needs root): running a fork bomb would hurt the host');
    const bomber = await rt.create();
    const other = await rt.create();
    const tag = await worldTag(bomber);
    const r = await bomber.run('bomb() { bomb | bomb; }; bomb; sleep 60', { timeoutMs: 3000 });
    assert.ok(r.timedOut || r.exitCode !== 0);
    assert.equal((await other.exec('1 + 1')).value, '2');
    assert.equal((await bomber.exec('2 + 2')).value, '4');
    // Nothing of the bomb is left: only the world's own process works in its directory.
    await waitFor(() => `the bomb's processes to end (${processesIn(tag).length - 1} left)`, () => processesIn(tag).length === 1);
    // A bomb left running in the background is contained, and destroying its world ends it.
    await bomber.run('bomb() { bomb | bomb & }; bomb');
    assert.equal((await other.exec('3 + 3')).value, '6');
    await bomber.destroy();
    await waitFor(() => `every process of the destroyed world to end (${processesIn(tag).length} left)`, () => processesIn(tag).length === 0);
  }));

test('close() leaves no world process running', async () => {
  const home = tempHome();
  const rt = await WorldRuntime.open({ home, warn: () => {} });
  const w = await rt.create();
  await w.run('sleep 60 &');
  await rt.branch(await w.snapshot(), 3);
  assert.ok(processesMentioning(home).length >= 5);
  await rt.close();
  await noProcessesLeft(home);
  await assert.rejects(rt.create(), { code: 'RUNTIME_CLOSED' });
  rmSync(home, { recursive: true, force: true });
});

test('SIGKILL of the orchestrating process leaves no world process running', async () => {
  const home = tempHome();
  const child = spawn(process.execPath, [join(here, '../fixtures/hold-worlds.js'), home], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
    });
    assert.ok(processesMentioning(home).length >= 4);
    child.kill('SIGKILL'); // the fixture flushed its record before it said ready
    await noProcessesLeft(home);
    // The next runtime on that home finds the dead runtime's worlds and marks them lost.
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    const rt = await WorldRuntime.open({ home, warn: () => {} });
    try {
      assert.ok(rt.lostOnOpen.length >= 4, `lost: ${rt.lostOnOpen}`);
      const lost = await rt.record?.entities({ state: 'lost' });
      assert.equal(lost?.length, rt.lostOnOpen.length);
    } finally {
      await rt.close();
    }
  } finally {
    child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  }
});

test('doctor reports isolation, python and limits', () =>
  withRuntime(async (rt) => {
    const d = await rt.doctor();
    const p = d.drivers[0] as Record<string, unknown>;
    assert.equal(p.driver, 'process');
    assert.ok(['world', 'tree', 'none'].includes(String(p.isolation)));
    assert.ok(['btrfs', 'overlay', 'copy'].includes(String(p.fs)));
    assert.match(String(p.pythonVersion), /^3\./);
    assert.ok((p.notes as string[]).some((n) => n.startsWith('isolation:')));
  }));
