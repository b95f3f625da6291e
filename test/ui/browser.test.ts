/**
 * The web view in a real browser (the system's Chromium, headless, through playwright-core): the tree after
 * a push-down, with its verses' probabilities, trits and balances; live updates as worlds come and go, with
 * no refetch of the tree; actions from the page that change the world; a pull-up from the page that greys
 * the losers; the keyboard; and yesterday's tree after a restart, marked not live. Every wait is on a
 * condition of the page.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { Daemon } from '../../src/server/daemon.js';
import { tempHome } from '../fixtures/runtime.js';
import { browserSkip, launchBrowser, openView } from '../fixtures/ui.js';
import { call, removeHome } from '../server/helpers.js';

const skip = browserSkip();

describe('the web view in Chromium', { skip }, () => {
  const home = tempHome('wr-ui');
  let daemon: Daemon;
  let browser: Browser;
  let page: Page;
  let world: string;
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of the push-down
  let pd: any;
  let treeFetches = 0;
  const unix = () => ({ socket: daemon.socketPath });
  const node = (key: string) => page.locator(`#tree [data-key="${key}"]`);

  before(async () => {
    daemon = await Daemon.start({ home });
    browser = await launchBrowser();
    world = (await call(unix(), 'POST', '/v1/worlds', { json: {} })).json.id;
    await call(unix(), 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'universe = list(range(10))' } });
    await call(unix(), 'POST', '/v1/ledger/deposit', { json: { owner: 'alice', asset: 'usd', amount: '100' } });
    pd = (await call(unix(), 'POST', `/v1/worlds/${world}/push-down`, { json: { event: 'rain' } })).json;
    await call(unix(), 'POST', '/v1/ledger/push-down', { json: { event: 'rain', owner: 'alice', asset: 'usd', amount: '40' } });
  });
  after(async () => {
    await browser?.close();
    await daemon?.close();
    removeHome(home);
  });

  it('renders the tree after a push-down: the world, its snapshot, the event and a fan of verses with p, trit and balances', async () => {
    page = await openView(browser, daemon);
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/ui/api/tree') treeFetches++;
    });
    await node('event:rain').waitFor();
    for (const key of [world, pd.snapshot.id]) await node(key).waitFor();
    const labels = await Promise.all(pd.verses.map((v: { world: { id: string } }) => node(v.world.id).getAttribute('aria-label')));
    assert.match(labels[0] ?? '', /verse nash .*probability 0\.45.*trit −1.*holds 40 usd/);
    assert.match(labels[1] ?? '', /verse optimal .*probability 0\.35.*trit 0/);
    assert.match(labels[2] ?? '', /verse chaos .*probability 0\.2.*trit \+1/);
    assert.match((await node('event:rain').getAttribute('aria-label')) ?? '', /push-down event rain, open, 3 verses/);
    // The fan hangs under the snapshot the push-down took, which hangs under the world.
    const edges = await page.locator('#tree .edge').count();
    assert.equal(edges, 5, 'world→snapshot→event→3 verses');
    assert.match((await page.locator('.legend').textContent()) ?? '', /root holds 60 usd/);
  });

  it('applies live updates as worlds are created, branched and destroyed, without fetching the tree again', async () => {
    const before = treeFetches;
    const made = (await call(unix(), 'POST', '/v1/worlds', { json: {} })).json.id;
    await node(made).waitFor();
    const [b1, b2] = (await call(unix(), 'POST', '/v1/branch', { json: { source: made, count: 2 } })).json.worlds.map((w: { id: string }) => w.id);
    await node(b1).waitFor();
    await node(b2).waitFor();
    await call(unix(), 'DELETE', `/v1/worlds/${b2}`);
    await page.waitForSelector(`#tree [data-key="${b2}"].gone`);
    assert.match((await node(b2).getAttribute('aria-label')) ?? '', /destroyed/);
    await call(unix(), 'POST', '/v1/ledger/deposit', { json: { owner: 'bob', asset: 'eur', amount: '5' } });
    await page.waitForFunction(() => /5 eur/.test(document.querySelector('.legend')?.textContent ?? ''));
    assert.equal(treeFetches, before, 'updates are applied, not refetched');
  });

  it('an action from the page changes the world: exec, snapshot, branch', async () => {
    await node(world).click();
    await page.waitForSelector(`#panel h2:has-text("${world}")`);
    await page.fill('#exec-code', 'marker = 41 + 1\nmarker');
    await page.click('form[aria-label="Exec Python"] button[type="submit"]');
    await page.waitForSelector('form[aria-label="Exec Python"] pre[aria-label="value"]:has-text("42")');
    assert.equal((await call(unix(), 'POST', `/v1/worlds/${world}/exec`, { json: { code: 'marker' } })).json.value, '42');
    // The page lists the exec under its last execs once the update arrives.
    await page.waitForSelector('#panel .execs pre[aria-label="code"]:has-text("marker = 41 + 1")');

    const snapshotsBefore = (await call(unix(), 'GET', '/v1/snapshots')).json.snapshots.length;
    await page.fill('#snap-name', 'from-the-page');
    await page.click('form[aria-label="Snapshot"] button[type="submit"]');
    await page.waitForSelector('form[aria-label="Snapshot"] .ok');
    const snaps = (await call(unix(), 'GET', '/v1/snapshots')).json.snapshots;
    assert.equal(snaps.length, snapshotsBefore + 1);
    const snap = snaps.find((s: { name: string }) => s.name === 'from-the-page');
    await node(snap.id).waitFor();

    const worldsBefore = (await call(unix(), 'GET', '/v1/worlds')).json.worlds.length;
    await page.fill('#branch-n', '2');
    await page.click('form[aria-label="Branch"] button[type="submit"]');
    await page.waitForSelector('form[aria-label="Branch"] .ok:has-text("2 worlds")');
    assert.equal((await call(unix(), 'GET', '/v1/worlds')).json.worlds.length, worldsBefore + 2);
  });

  it('a pull-up from the page asks first, then greys the losers and shows the winner and the WEV', async () => {
    await node('event:rain').click();
    await page.waitForSelector('#panel h2:has-text("rain")');
    await page.selectOption('#pull-outcome', 'optimal');
    await page.click('form[aria-label="Pull up by outcome"] button[type="submit"]');
    await page.waitForSelector('dialog#confirm[open]');
    await page.click('#confirm-ok');
    const [nash, optimal, chaos] = pd.verses.map((v: { world: { id: string } }) => v.world.id);
    await page.waitForSelector(`#tree [data-key="${nash}"].gone`);
    await page.waitForSelector(`#tree [data-key="${chaos}"].gone`);
    await page.waitForSelector(`#tree [data-key="${optimal}"].winner`);
    assert.ok(!(await node(optimal).getAttribute('class'))?.includes('gone'));
    assert.match((await node('event:rain').getAttribute('aria-label')) ?? '', /resolved.*winner optimal, WEV 80 usd/);
    assert.equal((await call(unix(), 'GET', `/v1/worlds/${nash}`)).json.state, 'collapsed');
    await page.waitForSelector('form[aria-label="Pull up by outcome"] .ok:has-text("winner optimal")');
  });

  it('is walked by keyboard: one tab stop, arrows move, Enter opens', async () => {
    await page.click('button:has-text("Focus the tree")');
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-key') ?? null);
    await page.keyboard.press('Home');
    const first = await focused();
    assert.ok(first);
    assert.equal(await page.locator('#tree [data-key][tabindex="0"]').count(), 1);
    await page.keyboard.press('ArrowRight');
    const child = await focused();
    assert.notEqual(child, first);
    await page.keyboard.press('ArrowLeft');
    assert.equal(await focused(), first);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    const key = (await focused()) as string;
    await page.waitForSelector(`#panel[data-for$="${key.replace(/^event:/, '')}"]`);
  });

  it("shows yesterday's tree after a restart, marked not live", async () => {
    await page.close();
    await daemon.close();
    daemon = await Daemon.start({ home });
    page = await openView(browser, daemon);
    await page.waitForSelector('#tree [data-key="event:rain"].notlive');
    const [nash, optimal] = pd.verses.map((v: { world: { id: string } }) => v.world.id);
    await page.waitForSelector(`#tree [data-key="${nash}"].gone.notlive`);
    assert.match((await node(optimal).getAttribute('aria-label')) ?? '', /not live/);
    assert.match((await node('event:rain').getAttribute('aria-label')) ?? '', /resolved, not live.*WEV 80 usd/);
    assert.ok(await page.isVisible('.banner'));
  });
});
