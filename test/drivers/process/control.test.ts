import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ControlServer } from '../../../src/drivers/process/control.js';

function hello(path: string, msg: Record<string, unknown>): Promise<{ closedByServer: boolean }> {
  return new Promise((resolve) => {
    const s = connect(path, () => s.write(`${JSON.stringify(msg)}\n`));
    let done = false;
    s.on('close', () => {
      if (!done) resolve({ closedByServer: true });
      done = true;
    });
    setTimeout(() => {
      if (!done) resolve({ closedByServer: false });
      done = true;
      s.destroy();
    }, 300);
  });
}

test('a token admits exactly one connection; unknown and reused tokens are cut off', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctl-'));
  const server = await ControlServer.listen(join(dir, 'ctl.sock'));
  try {
    const { token, connection } = server.expect(2000);
    const first = hello(server.path, { hello: token, pid: 123, role: 'world' });
    const conn = await connection;
    assert.equal(conn.pid, 123);
    assert.equal(conn.role, 'world');
    assert.equal((await hello(server.path, { hello: token, pid: 124, role: 'world' })).closedByServer, true, 'reused token');
    assert.equal((await hello(server.path, { hello: 'forged', pid: 125, role: 'world' })).closedByServer, true, 'unknown token');
    assert.equal((await first).closedByServer, false, 'the first connection stays open');
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a start failure reported in the hello rejects the waiter at once with its reason', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ctl-'));
  const server = await ControlServer.listen(join(dir, 'ctl.sock'));
  try {
    const { token, connection } = server.expect(5000);
    void hello(server.path, { hello: token, pid: 9, role: 'failed', error: 'FileExistsError: x' });
    await assert.rejects(connection, /could not start: FileExistsError: x/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
