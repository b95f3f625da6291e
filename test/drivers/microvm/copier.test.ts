// The RAM copy helper's replies are checked like any peer's (src/drivers/microvm/copier.ts): a line that is
// not JSON, or a reply without the protocol's fields, is a DriverError for the copy that waited on it, never
// an uncaught exception nor a copy that waits forever. The helper is a stand-in script; no QEMU needed.
import assert from 'node:assert/strict';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { DriverError } from '../../../src/base/errors.js';
import { Copier } from '../../../src/drivers/microvm/copier.js';

const dir = mkdtempSync(path.join(tmpdir(), 'wr-copier-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A "python3" that ignores its arguments, reads one request, answers `reply` (a shell word) and stays. */
function fakeHelper(name: string, reply: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\nread -r _req\nprintf '%s\\n' ${reply}\nexec cat >/dev/null\n`);
  chmodSync(file, 0o755);
  return file;
}

test('a helper line that is not JSON fails the copy with a DriverError and ends the helper', async () => {
  const c = new Copier(fakeHelper('garbage', `'Traceback (most recent call last):'`));
  try {
    await assert.rejects(
      c.copy('/nonexistent/src', path.join(dir, 'dst')),
      (e: Error) => e instanceof DriverError && /not a JSON object: "Traceback/.test(e.message),
    );
  } finally {
    await c.close();
  }
});

test('a reply with fields of the wrong type is answered with safe values, not passed on', async () => {
  const ok = new Copier(fakeHelper('odd-ok', `'{"id": 1, "ok": true, "bytes": "many", "ms": null}'`));
  try {
    assert.deepEqual(await ok.copy('/nonexistent/src', path.join(dir, 'dst')), { bytes: 0, ms: 0 });
  } finally {
    await ok.close();
  }
  const failed = new Copier(fakeHelper('odd-error', `'{"id": 1, "ok": "yes", "error": {"x": 1}}'`));
  try {
    await assert.rejects(
      failed.copy('/nonexistent/src', path.join(dir, 'dst')),
      (e: Error) => e instanceof DriverError && /the helper gave no reason/.test(e.message),
    );
  } finally {
    await failed.close();
  }
});

test('the real helper copies a sparse file, keeping its holes', async () => {
  const src = path.join(dir, 'sparse.src');
  const data = Buffer.alloc(4096, 7);
  const h = openSync(src, 'w');
  writeSync(h, data, 0, data.length, 8 * 1024 * 1024); // 8 MiB of hole, then 4 KiB of data
  closeSync(h);
  const c = new Copier();
  try {
    const r = await c.copy(src, path.join(dir, 'sparse.dst'));
    assert.equal(r.bytes, 4096);
    const out = readFileSync(path.join(dir, 'sparse.dst'));
    assert.equal(out.length, 8 * 1024 * 1024 + 4096);
    assert.ok(out.subarray(8 * 1024 * 1024).equals(data));
    assert.ok(statSync(path.join(dir, 'sparse.dst')).blocks * 512 < 1024 * 1024, 'the hole stayed a hole');
  } finally {
    await c.close();
  }
});
