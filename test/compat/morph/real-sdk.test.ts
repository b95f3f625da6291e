/**
 * Morph's own TypeScript SDK (morph-labs/morph-typescript-sdk, `morphcloud`), unmodified, against the daemon's
 * /morph routes. The SDK is not on npm, so this runs only where a built checkout of it is named by
 * MORPH_SDK_DIR (`git clone … && npm install && npx tsup`, docs/remote.md); elsewhere it skips saying so, and
 * test/compat/morph/sdk.ts (the same requests, written from the SDK's src/api.ts) stands in for it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { removeHome, stopAll } from '../../server/helpers.js';
import { type MorphDaemon, startMorphDaemon } from './helpers.js';

const dir = process.env.MORPH_SDK_DIR;
const entry = dir ? join(dir, 'dist', 'index.mjs') : '';
const skip = !dir ? 'MORPH_SDK_DIR is not set (a built checkout of morph-labs/morph-typescript-sdk)' : !existsSync(entry) ? `no ${entry}: build the SDK first (npx tsup)` : false;

describe('the unmodified Morph SDK against /morph', { skip }, () => {
  let m: MorphDaemon;
  // biome-ignore lint/suspicious/noExplicitAny: the SDK is loaded at run time, without its types
  let client: any;
  before(async () => {
    m = await startMorphDaemon();
    const { MorphCloudClient } = await import(pathToFileURL(entry).href);
    client = new MorphCloudClient({ baseUrl: m.baseUrl, apiKey: m.d.token });
  });
  after(async () => {
    await stopAll();
    removeHome(m.d.home);
  });

  it('starts, execs, snapshots, branches (3), streams, lists by metadata and stops', async () => {
    assert.deepEqual(
      (await client.images.list()).map((i: { id: string }) => i.id),
      ['morphvm-minimal'],
    );
    const snap = await client.snapshots.create({ vcpus: 1, memory: 256, diskSize: 1024 });
    const inst = await client.instances.start({ snapshotId: snap.id, metadata: { who: 'real-sdk' } });
    await inst.waitUntilReady(10);
    const r = await inst.exec(['sh', '-c', 'echo base > state.txt; python3 -c "print(6*7)"']);
    assert.deepEqual({ exit_code: r.exit_code, stdout: r.stdout }, { exit_code: 0, stdout: '42\n' });
    await inst.snapshot();
    const { instances } = await inst.branch(3);
    assert.equal(instances.length, 3);
    for (const [n, i] of instances.entries()) await i.exec(['sh', '-c', `echo ${n} >> state.txt`]);
    for (const [n, i] of instances.entries()) assert.equal((await i.exec(['cat', 'state.txt'])).stdout, `base\n${n}\n`);
    assert.equal((await inst.exec(['cat', 'state.txt'])).stdout, 'base\n', 'a branch touched its source');
    let streamed = '';
    const sr = await inst.exec(['sh', '-c', 'echo one; echo two >&2; exit 3'], {
      onStdout: (d: string) => (streamed += d),
      onStderr: (d: string) => (streamed += `[err]${d}`),
    });
    assert.equal(sr.exit_code, 3);
    assert.equal(streamed, 'one\n[err]two\n');
    const listed = (await client.instances.list({ metadata: { who: 'real-sdk' } })).map((i: { id: string }) => i.id).sort();
    assert.deepEqual(listed, [inst.id, ...instances.map((i: { id: string }) => i.id)].sort());
    for (const i of [...instances, inst]) await i.stop();
    assert.equal((await client.instances.list()).length, 0);
  });
});
