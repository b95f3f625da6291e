/**
 * A runtime killed with SIGKILL while it holds worlds with files: none of its processes outlive it, and the
 * next runtime on the same home removes what it left (its layers, run folder and cgroups) and says how much
 * it freed (docs/security.md, "Kill means gone"; docs/process-driver.md, "Files").
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WorldRuntime } from '../../src/index.js';
import { noProcessesLeft, processesMentioning, runtimeIdsOf, tempHome } from '../fixtures/runtime.js';
import { noWorldIsolation } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

test('after a crash, the next runtime on the home sweeps what the dead one left and says how much', { skip: noWorldIsolation }, async () => {
  const home = tempHome();
  // The crash below takes the runtime and its keepers at once (as a machine-wide OOM kill would), so nothing
  // gets to clean up after it: the fixture's own process group, and each keeper's (a keeper leads one).
  const child = spawn(process.execPath, [join(here, '../fixtures/hold-worlds.js'), home], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`fixture exited early with ${code}`)));
    });
    const [dead] = runtimeIdsOf(home);
    assert.ok(dead, 'the fixture made a runtime');
    const keepersAndWorlds = processesMentioning(home);
    assert.ok(keepersAndWorlds.length >= 4);
    for (const { pid } of keepersAndWorlds) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone with its keeper
      }
    }
    process.kill(-(child.pid as number), 'SIGKILL');
    await noProcessesLeft(home);
    const layers = [join(home, 'fs', 'layers', dead), join(home, 'layers', dead)].filter((p) => existsSync(p));
    assert.ok(layers.length > 0 && readdirSync(layers[0] as string).length >= 4, 'the dead runtime left its layers');
    const cgroups = ['memory', 'pids'].map((c) => `/sys/fs/cgroup/${c}/world-runtime/${dead}`).filter((p) => existsSync(p));
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));

    const warnings: string[] = [];
    const rt = await WorldRuntime.open({ home, warn: (m) => warnings.push(m) });
    try {
      for (const p of [...layers, join(home, 'run', dead), ...cgroups]) assert.equal(existsSync(p), false, `${p} is still there`);
      const report = warnings.find((m) => /runtime\(s\) that did not close/.test(m));
      assert.ok(report, `no sweep report in: ${warnings.join(' | ')}`);
      const freed = Number(/([\d.]+) MiB freed/.exec(report)?.[1]);
      assert.ok(freed >= 8, `freed ${freed} MiB; the worlds held at least 8`);
      const notes = ((await rt.doctor()).drivers[0] as { notes: string[] }).notes;
      assert.ok(
        notes.some((n) => /swept at open: 1 dead runtime/.test(n)),
        notes.join('\n'),
      );
    } finally {
      await rt.close();
    }
  } finally {
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {}
    // Failed before the sweep ran: the dead runtime's image may still be mounted under the home.
    if (existsSync(join(home, 'fs.img'))) spawnSync('umount', ['-l', join(home, 'fs')]);
    rmSync(home, { recursive: true, force: true });
  }
});
