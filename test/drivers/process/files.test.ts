// Files move between the host and a world in chunks (src/drivers/agent-protocol.ts): a file much larger than
// any line the connection allows goes both ways intact, so neither side ever holds it as one message.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { ProcessDriver } from '../../../src/drivers/process/driver.js';
import { tempHome } from '../../fixtures/runtime.js';

test('64 MiB each way through connections that allow 1 MiB a line', async () => {
  const home = tempHome();
  const d = await ProcessDriver.open({ home, maxLineBytes: 1 << 20, pool: { worlds: 0, branchesPerSnapshot: 0 }, warn: () => {} });
  try {
    const w = await d.create({ id: 'w-000000000001', memoryMib: 512, vcpus: 1 });
    const data = randomBytes(64 << 20);
    await d.writeFile(w, 'big.bin', data);
    const digest = await d.exec(w, "import hashlib; hashlib.sha256(open('big.bin', 'rb').read()).hexdigest()", {});
    assert.equal(digest.value, `'${(await import('node:crypto')).createHash('sha256').update(data).digest('hex')}'`);
    const back = Buffer.from(await d.readFile(w, 'big.bin'));
    assert.equal(back.length, data.length);
    assert.ok(back.equals(data), 'the file came back changed');
    // An empty file, and one past a chunk by a byte.
    await d.writeFile(w, 'empty', new Uint8Array());
    assert.equal((await d.readFile(w, 'empty')).length, 0);
    const odd = randomBytes(192 * 1024 + 1);
    await d.writeFile(w, 'odd', odd);
    assert.ok(Buffer.from(await d.readFile(w, 'odd')).equals(odd));
  } finally {
    await d.close();
    rmSync(home, { recursive: true, force: true });
  }
});
