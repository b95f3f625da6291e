/**
 * The E2B layer stands on the library: src/compat imports the facade (src/index.ts) and base only, never
 * the daemon, the drivers or the agent protocol; and the daemon reaches it from its HTTP handler and its
 * start and close, nowhere else.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return files(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)].map((m) =>
    relative(SRC, resolve(dirname(file), m[1] as string)),
  );
}

describe('src/compat/e2b', () => {
  it('imports only the library facade and base', () => {
    const outside = files(join(SRC, 'compat'))
      .flatMap((f) => imports(f).map((to) => ({ from: relative(SRC, f), to })))
      .filter(({ to }) => !to.startsWith('compat/'))
      .filter(({ to }) => to !== 'index.js' && !to.startsWith('base/'));
    assert.deepEqual(outside, []);
  });

  it('is reached from the daemon in http.ts and daemon.ts only', () => {
    const users = files(SRC)
      .filter((f) => !relative(SRC, f).startsWith('compat/'))
      .filter((f) => imports(f).some((to) => to.startsWith('compat/')))
      .map((f) => relative(SRC, f))
      .sort();
    assert.deepEqual(users, ['server/daemon.ts', 'server/http.ts']);
  });
});
