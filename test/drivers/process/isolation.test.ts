// The same world behaviour under each isolation this machine offers: world (root), tree (unprivileged), none.
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { connect, createServer } from 'node:net';
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
        // The network: a sandboxed world has a namespace of its own with only a loopback, where nothing the
        // host listens on is; a world without isolation shares the host's. A server on the host's loopback,
        // reached from the host first, so a refusal in the world can only come from the world's side.
        const server = createServer((sock) => sock.end('reached'));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        try {
          const port = (server.address() as { port: number }).port;
          assert.equal(await fromHost(port), 'reached', 'the host reaches its own server');
          const net = await w.exec(`import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=2).recv(10)`);
          const seen = await w.exec("import json, os\nprint(json.dumps([os.readlink('/proc/self/ns/net'), open('/proc/net/dev').read()]))");
          assert.equal(seen.error, undefined, JSON.stringify(seen.error));
          const [netns, dev] = JSON.parse(seen.stdout) as [string, string];
          const links = interfaces(dev);
          const hostLinks = interfaces(readFileSync('/proc/net/dev', 'utf8'));
          if (isolation === 'none') {
            assert.equal(net.value, "b'reached'");
            assert.equal(netns, readlinkSync('/proc/self/ns/net'), 'an unsandboxed world is in the host network namespace');
            assert.deepEqual(links, hostLinks);
          } else {
            assert.equal(net.error?.type, 'ConnectionRefusedError', `a sandboxed world cannot reach the host: ${JSON.stringify(net)}`);
            assert.notEqual(netns, readlinkSync('/proc/self/ns/net'), 'a sandboxed world has a network namespace of its own');
            assert.deepEqual(links, ['lo'], `a sandboxed world sees only its loopback (the host has ${hostLinks.join(', ')})`);
          }
        } finally {
          server.close();
        }
        await w.destroy();
      },
      { isolation },
    ),
  );
}

/** What a connection from the host to its own loopback `port` reads. */
function fromHost(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const sock = connect(port, '127.0.0.1');
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (got += d));
    sock.once('end', () => resolve(got));
    sock.once('error', reject);
  });
}

/** The network interfaces a /proc/net/dev lists (those of the reader's network namespace), sorted. */
function interfaces(dev: string): string[] {
  return dev
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]?.trim() ?? '')
    .filter((n) => n !== '')
    .sort();
}
