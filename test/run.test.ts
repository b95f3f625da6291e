// The test runner's watchdog (test/run.ts), on fixture files that misbehave: one leaves a process holding its
// output after it passed, one never ends. Each must be reported by name and leave nothing running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processesWith } from './fixtures/runtime.js';

const here = dirname(fileURLToPath(import.meta.url));

/** Run the runner on one fixture; its exit code and everything it printed. */
function runner(fixture: string, args: string[], marker: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [join(here, 'run.js'), ...args, join(here, 'fixtures', 'watchdog', fixture)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Without the test context node:test gives its files, or the runner's node --test would refuse to nest.
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_TEST_CONTEXT')), WATCHDOG_MARKER: marker },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out })));
}

test('a file that leaves a process behind holding its output is failed, named, and the process killed', async () => {
  const marker = `watchdog-${randomBytes(6).toString('hex')}`;
  const { code, out } = await runner('holds-output.js', [], marker);
  assert.equal(code, 1, out);
  assert.match(out, new RegExp(`leaked .*holds-output\\.js .*left processes behind \\(killed\\): \\d+ .*${marker}`), out);
  assert.deepEqual(processesWith([marker]), [], 'the holder was killed');
});

test('a file past its budget is ended with everything it started, and named as stalled', async () => {
  const marker = `watchdog-${randomBytes(6).toString('hex')}`;
  const { code, out } = await runner('hangs.js', ['--file-budget=3'], marker);
  assert.equal(code, 1, out);
  assert.match(out, /STALLED .*hangs\.js: it ran past its budget of 3 s/, out);
  assert.match(out, /stalled .*hangs\.js/, out);
  assert.deepEqual(processesWith([marker]), [], 'its child was ended with it');
});
