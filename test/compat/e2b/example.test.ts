/**
 * The worked example, examples/e2b/strategies.mjs, is an unmodified E2B program: it runs to its end against
 * a daemon with nothing but E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY set, and leaves no sandbox behind.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Sandbox } from 'e2b';
import { removeHome, stopAll } from '../../server/helpers.js';
import { type E2bDaemon, startE2bDaemon } from './helpers.js';

const EXAMPLE = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../examples/e2b/strategies.mjs');

describe('examples/e2b/strategies.mjs', () => {
  let e: E2bDaemon;

  before(async () => {
    e = await startE2bDaemon();
  });
  after(async () => {
    await stopAll();
    removeHome(e.d.home);
  });

  it('runs unmodified with only the E2B environment pointing at the daemon', async () => {
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', E2B_API_URL: e.url, E2B_SANDBOX_URL: e.url, E2B_API_KEY: e.key };
    const { stdout } = await promisify(execFile)(process.execPath, [EXAMPLE], { env, timeout: 120_000 });
    assert.match(stdout, /prices\.csv has 200 lines/);
    assert.match(stdout, /\[sandbox\] loaded 200 prices/);
    assert.match(stdout, /fork \w+: window 3 ends with [\d.]+\n.*window 10.*\n.*window 30/);
    assert.match(stdout, /a new sandbox from the snapshot already holds 200 prices/);
    assert.match(stdout, /done\n$/);
    assert.deepEqual(await Sandbox.list().nextItems(), [], 'it killed every sandbox it made');
    assert.deepEqual(await Sandbox.listSnapshots().nextItems(), [], 'and deleted its snapshot');
  });
});
