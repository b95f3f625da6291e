// The same world behaviour under each isolation this machine offers: bwrap, the unshare fallback, none.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import type { Isolation } from '../../../src/index.js';
import { withRuntime } from '../../fixtures/runtime.js';

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const modes: [Isolation, string | false][] = [
  ['bwrap', has('bwrap') ? false : 'bubblewrap is not installed'],
  ['unshare', has('unshare') && process.getuid?.() === 0 ? false : 'unshare needs util-linux and root'],
  ['none', false],
];

for (const [isolation, skip] of modes) {
  test(`isolation ${isolation}: create, exec, snapshot, branch, destroy`, { skip }, () =>
    withRuntime(
      async (rt) => {
        assert.equal((await rt.doctor()).drivers[0]?.isolation, isolation);
        const w = await rt.create();
        await w.exec('v = 1');
        const s = await w.snapshot();
        const [a, b] = await rt.branch(s, 2);
        await a?.exec('v = 2');
        assert.equal((await b?.exec('v'))?.value, '1');
        assert.equal((await a?.exec('v'))?.value, '2');
        const net = await w.exec('import socket\nsocket.create_connection(("127.0.0.1", 9), timeout=1)');
        if (isolation !== 'none') assert.match(net.error?.message ?? '', /unreachable|refused/i, 'no network in a sandboxed world');
        await w.destroy();
      },
      { isolation },
    ),
  );
}

test('auto warns loudly when it cannot use bubblewrap', { skip: has('bwrap') ? 'bubblewrap is installed here' : false }, async () => {
  const warnings: string[] = [];
  await withRuntime(async () => {}, { warn: (m) => warnings.push(m) });
  assert.ok(warnings.some((w) => /WARNING/.test(w)));
});
