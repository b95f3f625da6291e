/**
 * A 500-node tree in the browser: every node drawn, and the page still answers (a click opens a node's
 * page, the keyboard walks, zoom applies). How fast it draws is the bench's business (bench/ui.ts), not a
 * test's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { Daemon } from '../../src/server/daemon.js';
import { tempHome } from '../fixtures/runtime.js';
import { browserSkip, launchBrowser, openView, recordTree } from '../fixtures/ui.js';
import { removeHome } from '../server/helpers.js';

describe('a 500-node tree', { skip: browserSkip() }, () => {
  const home = tempHome('wr-ui-500');
  let daemon: Daemon;
  let browser: Browser;
  let ids: string[];

  before(async () => {
    // 100 worlds, each with a snapshot and 3 worlds branched from it: 500 nodes from an earlier daemon's record.
    ids = await recordTree(home, 100, 3);
    daemon = await Daemon.start({ home });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await daemon?.close();
    removeHome(home);
  });

  it('draws every node and stays interactive', async () => {
    assert.equal(ids.length, 500);
    const page = await openView(browser, daemon);
    await page.waitForFunction((n) => document.querySelectorAll('#tree [data-key]').length === n, ids.length);
    const drawn = await page.$$eval('#tree [data-key]', (els) => els.map((e) => e.getAttribute('data-key')));
    assert.deepEqual(new Set(drawn), new Set(ids));
    assert.equal(await page.locator('#tree .edge').count(), 400, 'every snapshot and branch hangs under its parent');
    // End walks to the last node and pans it into view, where a click opens its page.
    await page.click('button:has-text("Focus the tree")');
    await page.keyboard.press('End');
    const target = (await page.evaluate(() => document.activeElement?.getAttribute('data-key'))) as string;
    assert.ok(ids.includes(target), target);
    await page.locator(`#tree [data-key="${target}"]`).click();
    await page.waitForSelector(`#panel h2:has-text("${target}")`);
    const before = await page.getAttribute('#tree .viewport', 'transform');
    await page.click('button[aria-label="Zoom out"]');
    assert.notEqual(await page.getAttribute('#tree .viewport', 'transform'), before);
    await page.keyboard.press('ArrowUp');
    assert.notEqual(await page.evaluate(() => document.activeElement?.getAttribute('data-key')), target);
  });
});
