/**
 * @module
 * The web view's rows of `npm run bench`, in the system's Chromium (headless, playwright-core): a 500-node
 * tree (100 worlds, each with a snapshot and 3 branches, from the record) drawn from the login link's visit
 * until every node is in the page, the render itself (layout and SVG), one live update on that tree, and
 * what the page loads (HTML, CSS, scripts; the tree's JSON apart). `node dist/bench/ui.js` runs it alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Daemon } from '../src/server/daemon.js';
import { chromiumPath, launchBrowser, recordTree } from '../test/fixtures/ui.js';
import { headlineAtMost, p50AtMost, type Row, row, skipped } from './stats.js';

const NODES = 500;

export async function benchUi(opts: { quick: boolean; log: (line: string) => void }): Promise<Row[]> {
  if (!chromiumPath()) return [skipped('ui', 'ui', 'no Chromium (apt-get install chromium)')];
  const runs = opts.quick ? 3 : 10;
  opts.log(`bench: ui (${NODES}-node tree, ${runs} page loads)`);
  const home = mkdtempSync(join(tmpdir(), 'wr-bench-ui-'));
  await recordTree(home, 100, 3);
  const daemon = await Daemon.start({ home });
  const browser = await launchBrowser();
  const shown: number[] = [];
  const render: number[] = [];
  const update: number[] = [];
  let weight = 0;
  let treeJson = 0;
  const files: string[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
      const page = await context.newPage();
      const sizes = new Map<string, number>();
      const bodies: Promise<void>[] = [];
      page.on('response', (r) => {
        const type = r.request().resourceType();
        const path = new URL(r.url()).pathname;
        if (!['document', 'stylesheet', 'script'].includes(type) && path !== '/ui/api/tree') return;
        if (r.status() !== 200) return;
        bodies.push(r.body().then((b) => void sizes.set(path, b.byteLength), () => {}));
      });
      const { url } = await daemon.uiLogin();
      await page.goto(url);
      await page.waitForFunction((n) => document.querySelectorAll('#tree [data-key]').length >= n, NODES);
      // The mark of the first render holding every node: its time since the navigation began, and its own cost.
      const full = await page.evaluate((n) => {
        const m = performance.getEntriesByName('tree-rendered').find((x) => ((x as PerformanceMark).detail as { nodes: number }).nodes >= n) as PerformanceMark;
        return { at: m.startTime, ms: (m.detail as { ms: number }).ms };
      }, NODES);
      shown.push(full.at);
      render.push(full.ms);
      // One live update: a world made in the daemon reaches the page over the stream and is drawn.
      const marks = await page.evaluate(() => performance.getEntriesByName('tree-rendered').length);
      const w = await daemon.runtime.create();
      await page.waitForSelector(`#tree [data-key="${w.id}"]`);
      await page.waitForFunction((k) => performance.getEntriesByName('tree-rendered').length > k, marks);
      update.push(await page.evaluate(() => (performance.getEntriesByName('tree-rendered').at(-1) as PerformanceMark).detail.ms as number));
      await w.destroy();
      await Promise.all(bodies);
      weight = [...sizes].filter(([p]) => p !== '/ui/api/tree').reduce((a, [, b]) => a + b, 0);
      treeJson = sizes.get('/ui/api/tree') ?? 0;
      files.splice(0, files.length, ...[...sizes.keys()].filter((p) => p !== '/ui/api/tree'));
      await context.close();
    }
  } finally {
    await browser.close();
    await daemon.close();
    rmSync(home, { recursive: true, force: true });
  }
  return [
    row({ group: 'ui', label: `${NODES}-node tree: login link visited → every node drawn (Chromium, headless)`, samples: shown, targets: [p50AtMost(1000)] }),
    row({ group: 'ui', label: `${NODES}-node tree: one render (layout + SVG)`, samples: render, targets: [p50AtMost(200)] }),
    row({ group: 'ui', label: `${NODES}-node tree: a live update (a new world) redrawn`, samples: update, targets: [p50AtMost(50)] }),
    row({
      group: 'ui',
      label: 'what the page loads: HTML, CSS and scripts',
      unit: 'KB',
      samples: [weight / 1000],
      headline: { value: weight / 1000, unit: 'KB', how: `${files.length} files: ${files.join(', ')}; uncompressed; the ${NODES}-node tree's JSON is ${(treeJson / 1000).toFixed(0)} KB more` },
      targets: [headlineAtMost(100, '≤ 100 KB')],
    }),
  ];
}

// `node dist/bench/ui.js [--quick]`: this section alone, as a table.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const rows = await benchUi({ quick: process.argv.includes('--quick'), log: (l) => process.stderr.write(`${l}\n`) });
  for (const r of rows) {
    const value = r.headline ? `${r.headline.value.toFixed(1)} ${r.headline.unit} (${r.headline.how})` : `p50 ${r.p50.toFixed(1)} ${r.unit}, p99 ${r.p99.toFixed(1)} ${r.unit}, n ${r.n}`;
    process.stdout.write(`${r.label}: ${value}  ${r.targets.map((t) => `${t.met ? '✓' : '✗'} ${t.text}`).join(' ')}\n`);
  }
}
