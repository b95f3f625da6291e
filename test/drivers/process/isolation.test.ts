// The same world behaviour under each isolation this machine offers: world (root), tree (unprivileged), none.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import type { Isolation } from '../../../src/index.js';
import { withRuntime } from '../../fixtures/runtime.js';

const root = process.getuid?.() === 0;
const modes: [Isolation, string | false][] = [
  ['world', root ? false : 'isolation world needs root'],
  ['tree', root ? 'isolation tree is for unprivileged users (as root the runtime uses world)' : false],
  ['none', false],
];

for (const [isolation, skip] of modes) {
  test(`isolation ${isolation}: create, exec, snapshot, branch, destroy`, { skip }, () =>
    withRuntime(
      async (rt) => {
        assert.equal((await rt.doctor()).drivers[0]?.isolation, isolation);
        const w = await rt.create();
        await w.exec('v = 1');
        await w.writeFile('f.txt', 'one');
        const s = await w.snapshot();
        const [a, b] = await rt.branch(s, 2);
        await a?.exec('v = 2');
        await a?.writeFile('f.txt', 'two');
        assert.equal((await b?.exec('v'))?.value, '1');
        assert.equal((await a?.exec('v'))?.value, '2');
        assert.equal(Buffer.from((await b?.readFile('f.txt')) ?? []).toString(), 'one');
        // A server on the host's loopback: a sandboxed world has its own loopback, where nothing listens.
        const server = createServer((sock) => sock.end('reached'));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        try {
          const port = (server.address() as { port: number }).port;
          const net = await w.exec(`import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=2).recv(10)`);
          if (isolation === 'none') assert.equal(net.value, "b'reached'");
          else assert.match(net.error?.message ?? '', /refused/i, 'a sandboxed world cannot reach the host');
        } finally {
          server.close();
        }
        await w.destroy();
      },
      { isolation },
    ),
  );
}
