// A fork tree whose keeper never comes up must not leave anything behind: not the process the driver
// spawned, nor what that process started (which would hold the driver's pipes open, and so the test
// runner's, for as long as it lives). The keeper here is a stand-in interpreter that starts a child and
// then never connects (or exits at once), and runs everything else as python3 would.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProcessDriver } from '../../../src/drivers/process/driver.js';
import { processesMentioning, tempHome } from '../../fixtures/runtime.js';
import { waitFor } from '../../fixtures/wait.js';

/** A python3 that, asked to run the keeper, starts a child holding its stdio, then `then` (shell). */
function stubPython(home: string, then: string): string {
  const path = join(home, 'python-stub');
  writeFileSync(
    path,
    `#!/bin/sh
case "$*" in
  *keeper.py*)
    /usr/bin/python3 -I -S -c 'import time; time.sleep(600)' "$@" &
    ${then} ;;
  *) exec /usr/bin/python3 "$@" ;;
esac
`,
    { mode: 0o755 },
  );
  return path;
}

/** The stand-in keeper's processes: each has the keeper's argv, so names the runtime. */
const left = (home: string) => JSON.stringify(processesMentioning(home));

test('close() ends a spare tree still starting, and everything its keeper started', async () => {
  const home = tempHome();
  const python = stubPython(home, "exec /usr/bin/python3 -I -S -c 'import time; time.sleep(600)' \"$@\"");
  try {
    const d = await ProcessDriver.open({ home, isolation: 'none', fs: 'copy', python, pool: { worlds: 1, branchesPerSnapshot: 0 }, warn: () => {} });
    // The pool starts its spare tree at once; the keeper and its child are up but will never connect.
    await waitFor(() => `the stand-in keeper and its child (${left(home)})`, () => processesMentioning(home).length >= 2);
    await d.close();
    // close() ended the start in flight rather than waiting for it to time out, and the whole process
    // group with it: only the kernel's delivery of SIGKILL can lag behind.
    await waitFor(() => `no process of the unfinished tree to be left: ${left(home)}`, () => processesMentioning(home).length === 0, 5000);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('close() ends a create still starting its tree: the create rejects with RuntimeClosedError, nothing is left', async () => {
  const home = tempHome();
  const python = stubPython(home, "exec /usr/bin/python3 -I -S -c 'import time; time.sleep(600)' \"$@\"");
  try {
    const d = await ProcessDriver.open({ home, isolation: 'none', fs: 'copy', python, pool: { worlds: 0, branchesPerSnapshot: 0 }, warn: () => {} });
    const creating = d.create({ id: 'w-1', memoryMib: 256, vcpus: 1 });
    await waitFor(() => `the stand-in keeper and its child (${left(home)})`, () => processesMentioning(home).length >= 2);
    await d.close();
    await assert.rejects(creating, { code: 'RUNTIME_CLOSED' });
    await waitFor(() => `no process of the unfinished tree to be left: ${left(home)}`, () => processesMentioning(home).length === 0, 5000);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('a keeper that exits at start leaves nothing behind: what it started is ended with it', async () => {
  const home = tempHome();
  const python = stubPython(home, 'exit 3');
  const d = await ProcessDriver.open({ home, isolation: 'none', fs: 'copy', python, pool: { worlds: 0, branchesPerSnapshot: 0 }, warn: () => {} });
  try {
    await assert.rejects(d.create({ id: 'w-1', memoryMib: 256, vcpus: 1 }), { code: 'DRIVER', message: /keeper exited at start \(3\)/ });
    await waitFor(() => `the stand-in keeper's child to be ended: ${left(home)}`, () => processesMentioning(home).length === 0, 5000);
  } finally {
    await d.close();
    rmSync(home, { recursive: true, force: true });
  }
});
