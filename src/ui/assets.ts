/**
 * @module
 * The files of the page: its HTML shell and stylesheet (page.ts, style.ts) and its scripts, the browser
 * modules tsc compiled from src/ui/web into the folder beside this file. Read once, when the daemon starts:
 * no build step at install, nothing fetched from anywhere else.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PAGE_HTML } from './page.js';
import { STYLE_CSS } from './style.js';

export interface Asset {
  type: string;
  body: Buffer;
}

/** `/ui/<name>` → the file. */
export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>([
    ['', { type: 'text/html; charset=utf-8', body: Buffer.from(PAGE_HTML) }],
    ['style.css', { type: 'text/css; charset=utf-8', body: Buffer.from(STYLE_CSS) }],
  ]);
  const dir = fileURLToPath(new URL('./web/', import.meta.url));
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /^[a-z][a-z0-9-]*\.js$/.test(n));
  } catch {
    // Not built: the page says so in its own status line once it fails to load its script.
  }
  for (const name of names) {
    // The maps' comments would send the browser asking for files that are not served.
    const text = readFileSync(`${dir}${name}`, 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '');
    assets.set(name, { type: 'text/javascript; charset=utf-8', body: Buffer.from(text) });
  }
  return assets;
}
