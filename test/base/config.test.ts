import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENVIRONMENT } from '../../src/base/config.js';

const root = join(import.meta.dirname, '..', '..', '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('only base/config.ts reads WORLD_RUNTIME_* variables, and it reads only names of its table', () => {
  const readers: string[] = [];
  for (const file of sources(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith(join('base', 'config.ts'))) continue;
    if (/process\.env(\.|\[\s*['"`])WORLD_RUNTIME_/.test(text)) readers.push(file);
  }
  assert.deepEqual(readers, []);
  for (const file of sources(join(root, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/\benv\('(WORLD_RUNTIME_[A-Z_]+)'\)/g)) {
      assert.ok(m[1] && m[1] in ENVIRONMENT, `${file} reads ${m[1]}, which base/config.ts does not list`);
    }
  }
});

test('docs/configuration.md lists every environment variable of the table, and no other', () => {
  const doc = readFileSync(join(root, 'docs', 'configuration.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^\| `((?:WORLD_RUNTIME|E2B)_[A-Z_]+)` \|/gm)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(ENVIRONMENT).sort());
});
