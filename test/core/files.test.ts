import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { withRuntime } from '../fixtures/runtime.js';

test('writeFile and readFile work inside the world and are visible to its code', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await w.writeFile('data/in.txt', 'hello');
    assert.equal((await w.exec('open("data/in.txt").read()')).value, "'hello'");
    await w.exec('open("out.bin", "wb").write(bytes(range(256)))');
    const out = await w.readFile('out.bin');
    assert.deepEqual([...out], [...Array(256).keys()]);
    await assert.rejects(w.readFile('missing.txt'), { code: 'FILE_NOT_FOUND' });
  }));

test('writes outside the world are refused', () =>
  withRuntime(async (rt) => {
    const w = await rt.create();
    await assert.rejects(w.writeFile('../escape.txt', 'x'), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(w.writeFile('/etc/escape.txt', 'x'), { code: 'INVALID_ARGUMENT' });
    await w.exec('import os; os.symlink("/etc", "etc-link")');
    await assert.rejects(w.writeFile('etc-link/x', 'x'), { code: 'INVALID_ARGUMENT' });
    const isolation = (await rt.doctor()).drivers[0]?.isolation;
    if (isolation === 'bwrap') {
      for (const target of ['/usr/escape.txt', '/etc/escape.txt', '/escape.txt']) {
        const r = await w.exec(`open(${JSON.stringify(target)}, "w").write("x")`);
        assert.ok(r.error, `writing ${target} must fail`);
      }
      // The runtime's home is not the sandbox's: a write there lands in the tree's private scratch at most.
      const hostPath = join(rt.home, 'escape.txt');
      await w.exec(`import os\nos.makedirs(${JSON.stringify(rt.home)}, exist_ok=True)\nopen(${JSON.stringify(hostPath)}, "w").write("x")`);
      assert.equal(existsSync(hostPath), false, 'a world wrote into the host state directory');
      // The host's files outside the world are not even visible.
      const secret = join(rt.home, 'secret.txt');
      writeFileSync(secret, 'host secret');
      assert.equal((await w.exec(`import os; os.path.exists(${JSON.stringify(secret)})`)).value, 'False');
      assert.equal((await w.exec('import os; os.getuid()')).value, '1000', 'worlds never run as root');
    }
  }));

test('a world has no network, not even to the host loopback', (t) =>
  withRuntime(async (rt) => {
    if ((await rt.doctor()).drivers[0]?.isolation === 'none') return t.skip('isolation is none on this machine: worlds share the host network');
    const server = createServer((s) => s.end('reached'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const w = await rt.create();
      const r = await w.exec(`import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=2).recv(10)`);
      assert.ok(r.error, `connect should fail, got ${r.value}`);
      assert.match(r.error.type, /OSError|ConnectionRefusedError|TimeoutError/);
    } finally {
      server.close();
    }
  }));
