/**
 * @module
 * The page: one live update stream for its whole life, the tree (with a node's or an event's page beside it)
 * and the metrics view, chosen by the URL's fragment (`#/`, `#/node/<id>`, `#/event/<id>`, `#/metrics`).
 * On every (re)connection of the stream it fetches the tree once, keeps the updates that arrive meanwhile,
 * and applies those numbered after the tree.
 */
import { ApiError, openFeed, view } from './api.js';
import { amounts, clear, h } from './dom.js';
import { metricsPage } from './metrics.js';
import type { TreeSnapshot } from './model.js';
import { eventPage, hashFor, nodePage, type PageHost } from './pages.js';
import { Model } from './state.js';
import { TreeView } from './tree.js';

const model = new Model();
const main = document.getElementById('main') as HTMLElement;
const statusEl = document.getElementById('status') as HTMLElement;
const dialog = document.getElementById('confirm') as HTMLDialogElement;

let streamUp = false;
let note = '';

function showStatus(): void {
  const d = model.daemon;
  const live = [...model.nodes.values()].filter((n) => n.live && n.kind === 'world').length;
  statusEl.className = `status ${streamUp ? 'live' : 'down'}`;
  statusEl.textContent = `${streamUp ? 'live' : 'reconnecting…'}${d ? ` · ${live} live worlds of ${d.maxWorlds} · ${d.driver} driver · pid ${d.pid}` : ''}${note ? ` · ${note}` : ''}`;
}

const host: PageHost = {
  confirm(title, text) {
    (document.getElementById('confirm-title') as HTMLElement).textContent = title;
    (document.getElementById('confirm-text') as HTMLElement).textContent = text;
    dialog.returnValue = '';
    dialog.showModal();
    return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
  },
  go(hash) {
    location.hash = hash;
  },
  status(text) {
    note = text;
    showStatus();
  },
};

// The tree view and the page beside it live as long as the page; the metrics view replaces them.
const tree = new TreeView(model, (key) => host.go(hashFor(key)));
const panel = h('aside', { id: 'panel', class: 'page', 'aria-labelledby': 'panel-title', tabindex: '-1' });
const legend = h('div', { class: 'legend', 'aria-label': 'Legend' });
const banner = h('p', { class: 'banner', hidden: true });
const treePage = h(
  'div',
  { class: 'tree-page' },
  h(
    'div',
    { class: 'toolbar' },
    h('button', { type: 'button', onclick: () => tree.fit() }, 'Fit'),
    h('button', { type: 'button', 'aria-label': 'Zoom in', onclick: () => tree.zoom(1.25) }, '+'),
    h('button', { type: 'button', 'aria-label': 'Zoom out', onclick: () => tree.zoom(0.8) }, '−'),
    h('button', { type: 'button', onclick: () => tree.svg.querySelector<SVGGElement>('[tabindex="0"]')?.focus() }, 'Focus the tree'),
    legend,
  ),
  banner,
  h('div', { class: 'split' }, h('div', { id: 'tree-wrap' }, tree.svg), panel),
);

function drawLegend(): void {
  const nodes = [...model.nodes.values()];
  const root = model.totalsIn('root');
  const gone = nodes.filter((n) => !n.live).length;
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  legend.textContent = `${count(nodes.filter((n) => n.kind === 'world').length, 'world')} · ${count(nodes.filter((n) => n.kind === 'snapshot').length, 'snapshot')} · ${count(model.events.size, 'push-down')} · root holds ${amounts(root)} · arrows walk the tree, Enter opens, +/− zoom, 0 fits`;
  banner.hidden = gone === 0 && !model.truncated;
  banner.textContent = `${gone ? `${gone} worlds and snapshots are not live: ended, or left by an earlier daemon (dashed, greyed). ` : ''}${model.truncated ? 'Older record rows are not shown.' : ''}`;
}

type Route = { view: 'tree'; page: null } | { view: 'tree'; page: 'node' | 'event'; id: string } | { view: 'metrics' };

function route(): Route {
  const [, a, b] = location.hash.split('/');
  if (a === 'metrics') return { view: 'metrics' };
  if ((a === 'node' || a === 'event') && b) return { view: 'tree', page: a, id: decodeURIComponent(b) };
  return { view: 'tree', page: null };
}

let refreshTimer: number | undefined;
let metricsTimer: number | undefined;

function fail(el: HTMLElement, err: unknown): void {
  clear(el);
  const text = err instanceof ApiError && err.status === 401 ? 'Your session has ended: run `world-runtime ui` for a new login link.' : String((err as Error).message ?? err);
  el.append(h('p', { class: 'error', role: 'alert' }, text));
}

function showPanel(r: Route): void {
  if (r.view !== 'tree' || r.page === null) {
    panel.hidden = true;
    tree.select(null);
    return;
  }
  panel.hidden = false;
  const key = r.page === 'event' ? `event:${r.id}` : r.id;
  tree.select(key);
  (r.page === 'node' ? nodePage(panel, r.id, host) : eventPage(panel, r.id, host)).catch((err) => fail(panel, err));
}

function show(): void {
  const r = route();
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (a.dataset.view === r.view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (r.view === 'metrics') {
    treePage.remove();
    const page = h('div', { class: 'page', id: 'metrics' }, h('p', { class: 'muted' }, 'loading…'));
    clear(main);
    main.append(page);
    metricsPage(page).catch((err) => fail(page, err));
    return;
  }
  if (!treePage.isConnected) {
    clear(main);
    main.append(treePage);
    tree.render();
  }
  showPanel(r);
}

/** Refresh the open page (not the tree) a moment after an update that concerns it: one fetch per burst. */
function touch(what: { node?: string; event?: string; balances?: boolean }): void {
  const r = route();
  if (r.view === 'metrics') {
    if (what.node || what.event) {
      clearTimeout(metricsTimer);
      metricsTimer = window.setTimeout(() => {
        const page = document.getElementById('metrics');
        if (page && route().view === 'metrics') metricsPage(page).catch(() => {});
      }, 2000);
    }
    return;
  }
  if (r.page === null) return;
  const relevant =
    what.balances ||
    (r.page === 'node' && what.node === r.id) ||
    (r.page === 'event' && (what.event === r.id || (what.node !== undefined && model.events.get(r.id)?.verses.some((v) => v.worldId === what.node))));
  if (!relevant) return;
  clearTimeout(refreshTimer);
  refreshTimer = window.setTimeout(() => showPanel(route()), 250);
}

// Updates wait while a tree is being fetched, then those after it apply.
let loading = true;
let queued: [number, () => void][] = [];
function update(seq: number, fn: () => void): void {
  if (loading) queued.push([seq, fn]);
  else model.apply(seq, fn);
}

let generation = 0;
function load(): void {
  // Only the latest fetch counts: a slower earlier one (from a dropped stream) must not overwrite it.
  const mine = ++generation;
  loading = true;
  view<TreeSnapshot>('tree').then(
    (t) => {
      if (mine !== generation) return;
      model.load(t);
      for (const [seq, fn] of queued) model.apply(seq, fn);
      queued = [];
      loading = false;
      show();
    },
    (err) => {
      if (mine !== generation) return;
      loading = false;
      queued = [];
      fail(main, err);
    },
  );
}

const feed = openFeed({
  hello: () => load(),
  node: (m) => {
    update(m.seq, () => model.putNode(m.node));
    touch({ node: m.node.id });
  },
  event: (m) => {
    update(m.seq, () => model.putEvent(m.event));
    touch({ event: m.event.id });
  },
  balances: (m) => {
    update(m.seq, () => model.putBalances(m.balances));
    touch({ balances: true });
  },
  exec: (m) => {
    // Execs change no node of the tree: only an open page of that world.
    touch({ node: m.exec.world });
  },
  state: (up) => {
    streamUp = up;
    showStatus();
    // The browser retries a dropped stream by itself, but not one refused: then say why.
    if (!up && feed.readyState === EventSource.CLOSED) {
      view('capacity').then(
        () => {
          note = 'live updates stopped (too many open pages?): reload to resume';
          showStatus();
        },
        (err) => {
          note = err instanceof ApiError && err.status === 401 ? 'session ended: run `world-runtime ui` for a new link' : 'the daemon does not answer';
          showStatus();
        },
      );
    }
  },
});

model.subscribe(() => {
  if (treePage.isConnected) tree.render();
  drawLegend();
  showStatus();
});
window.addEventListener('hashchange', show);
window.addEventListener('resize', () => tree.render());
clear(main);
main.append(h('p', { class: 'page muted' }, 'loading the tree…'));
