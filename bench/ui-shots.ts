/**
 * @module
 * The screenshots of docs/ui.md: runs the demo's story in a fresh daemon, then photographs the web view in
 * headless Chromium: the verse tree with its event page (light), a world's page (dark), and the metrics.
 * `node dist/bench/ui-shots.js [DIR]` writes docs/ui/*.png (or DIR/*.png).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DaemonClient } from '../src/client/client.js';
import { runDemo } from '../src/cli/demo.js';
import { Daemon } from '../src/server/daemon.js';
import { chromiumPath, launchBrowser, openView } from '../test/fixtures/ui.js';

const out = resolve(process.argv[2] ?? fileURLToPath(new URL('../../docs/ui/', import.meta.url)));
if (!chromiumPath()) throw new Error('no Chromium: apt-get install chromium');
mkdirSync(out, { recursive: true });
const home = mkdtempSync(join(tmpdir(), 'wr-shots-'));
const daemon = await Daemon.start({ home });
const browser = await launchBrowser();
try {
  const client = new DaemonClient({ socketPath: daemon.socketPath });
  let source = '';
  await runDemo({
    client,
    out: (line) => {
      source ||= /created world (w-[0-9a-f]+)/.exec(line)?.[1] ?? '';
    },
  });
  const event = (await client.dispatch({ kind: 'verse.list' })).events[0]?.event as string;

  const light = await openView(browser, daemon, { width: 1280, height: 720 });
  await light.locator(`#tree [data-key="event:${event}"]`).click();
  await light.waitForSelector('#panel h2:has-text("Push-down")');
  await light.click('button:has-text("Fit")');
  await light.screenshot({ path: join(out, 'tree.png') });

  const dark = await openView(browser, daemon, { width: 1280, height: 720, colorScheme: 'dark' });
  await dark.locator(`#tree [data-key="${source}"]`).click();
  await dark.waitForSelector('#panel .execs pre');
  await dark.click('button:has-text("Fit")');
  await dark.screenshot({ path: join(out, 'world-dark.png') });

  // A few more creates, snapshots and branches, so the charts have lines to draw.
  for (let i = 0; i < 12; i++) {
    const w = await client.dispatch({ kind: 'world.create' });
    const s = await client.dispatch({ kind: 'world.snapshot', id: w.id });
    const { worlds } = await client.dispatch({ kind: 'snapshot.branch', id: s.id, count: 2 });
    for (const x of [...worlds.map((b) => b.id), w.id]) await client.dispatch({ kind: 'world.destroy', id: x });
    await client.dispatch({ kind: 'snapshot.destroy', id: s.id });
  }
  const metrics = await openView(browser, daemon, { width: 1280, height: 1000 });
  await metrics.goto(`${new URL(metrics.url()).origin}/ui/#/metrics`);
  await metrics.waitForSelector('#metrics .chart path.p99');
  await metrics.screenshot({ path: join(out, 'metrics.png') });
  process.stdout.write(`screenshots in ${out}\n`);
} finally {
  await browser.close();
  await daemon.close();
  rmSync(home, { recursive: true, force: true });
}
