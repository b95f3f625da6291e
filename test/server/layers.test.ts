/**
 * The folders' dependencies point inward: cli → client → (HTTP) → server → core → (drivers, ledger, store)
 * → base. Read from the import lines of src/ (static and dynamic, type-only included): the daemon's wire
 * vocabulary (src/protocol) needs nothing but base, its client nothing but those two, and the CLI reaches
 * the daemon's code only from the executable that hosts both (cli/main.ts, for `serve`).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return files(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** The top folder of src/ a file is in (`index.ts` at the top: `.`). */
function folderOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? '.' : (rel[0] as string);
}

/** Every (file, imported folder) pair of src/, from relative import and export lines. */
function edges(): { file: string; from: string; to: string }[] {
  const out: { file: string; from: string; to: string }[] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      const target = resolve(dirname(file), m[1] as string);
      if (!target.startsWith(SRC)) continue;
      const to = folderOf(target);
      const from = folderOf(file);
      if (to !== from) out.push({ file: relative(SRC, file), from, to });
    }
  }
  return out;
}

const EDGES = edges();

function importsOf(folder: string, except: string[] = []): Set<string> {
  return new Set(EDGES.filter((e) => e.from === folder && !except.includes(e.file)).map((e) => e.to));
}

describe('layers', () => {
  it('base imports no other folder', () => {
    assert.deepEqual([...importsOf('base')], []);
  });

  it('protocol (the action table and the wire types) imports only base', () => {
    assert.deepEqual([...importsOf('protocol')], ['base']);
  });

  it('client imports only protocol and base', () => {
    assert.deepEqual([...importsOf('client')].sort(), ['base', 'protocol']);
  });

  it('the CLI names src/server only in its executable, main.ts', () => {
    const server = EDGES.filter((e) => e.from === 'cli' && e.to === 'server').map((e) => e.file);
    assert.deepEqual([...new Set(server)], ['cli/main.ts']);
  });

  it('the web view (src/ui) imports base, protocol, core (ledger and store for types), and only the daemon imports it', () => {
    assert.ok(importsOf('ui').has('core'), 'the view reads the runtime');
    for (const f of importsOf('ui')) assert.ok(['base', 'protocol', 'core', 'ledger', 'store'].includes(f), `ui imports ${f}`);
    for (const e of EDGES) if (e.to === 'ui') assert.equal(e.from, 'server', `${e.file} imports src/ui`);
    // The page's own modules are browser code: nothing outside src/ui/web.
    for (const file of files(join(SRC, 'ui', 'web'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
        const spec = m[1] as string;
        assert.ok(spec.startsWith('./') && !spec.includes('..'), `${relative(SRC, file)} imports ${spec}`);
      }
    }
  });

  it('nothing below the daemon imports it, and nothing but the CLI imports the client', () => {
    for (const e of EDGES) {
      if (e.to === 'server') assert.equal(e.from, 'cli', `${e.file} imports src/server`);
      if (e.to === 'client') assert.equal(e.from, 'cli', `${e.file} imports src/client`);
      if (e.to === 'cli') assert.fail(`${e.file} imports src/cli`);
    }
  });
});
