/**
 * @module
 * The tree as SVG: one group per node, kept by key between renders (an update rewrites only the nodes whose
 * facts changed, and moves the others), one path per edge. Pan by dragging, zoom with the wheel or the
 * buttons; by keyboard, the tree is one tab stop whose arrows walk it (Right: first child, Left: parent,
 * Up/Down: previous/next in depth-first order, Home/End), Enter opens a node, + and − zoom, 0 fits.
 */
import { age, amounts, bytes, ms, s, short, trit, tritClass } from './dom.js';
import { COL, type Item, type Layout, layout, NODE_H, NODE_W } from './layout.js';
import type { Model } from './state.js';

interface View {
  x: number;
  y: number;
  k: number;
}

const MIN_K = 0.05;
const MAX_K = 2.5;

const GONE = new Set(['destroyed', 'collapsed', 'lost']);

/** What a node shows: its CSS classes, two or three lines, and the sentence a screen reader says. */
function describe(it: Item, model: Model, now: number): { cls: string; title: string; tritText: string; trit: number | null; lines: string[]; label: string } {
  const n = it.node;
  const v = it.verse;
  const e = it.event;
  const cls = ['node', it.kind];
  if (it.kind === 'event' && e) {
    if (e.state === 'collapsed') cls.push('gone');
    if (!e.live) cls.push('notlive');
    const winner = e.winner ? (e.verses.find((x) => x.verse === e.winner)?.name ?? e.winner) : null;
    const lines = [
      `${e.verses.length} verses · gf3 ${e.gf3Sum} · ${e.state}`,
      e.wev ? `WEV ${amounts(e.wev)}${winner ? ` · ★ ${winner}` : ''}` : winner ? `★ ${winner}` : e.live ? 'open: pull up to resolve' : 'not live',
    ];
    const label = `push-down event ${e.id}, ${e.state}${e.live ? '' : ', not live'}, ${e.verses.length} verses${winner ? `, winner ${winner}` : ''}${e.wev ? `, WEV ${amounts(e.wev)}` : ''}`;
    return { cls: cls.join(' '), title: `⋔ ${short(e.id, 16)}`, tritText: '', trit: null, lines, label };
  }
  const state = n?.state ?? (v?.collapsed ? 'collapsed' : 'unknown');
  const collapsed = v?.collapsed === true;
  const winner = v !== null && e?.winner === v.verse;
  if (v) cls.push('verse');
  if (GONE.has(state) || collapsed) cls.push('gone');
  if (state === 'failed') cls.push('failed');
  if (winner) cls.push('winner');
  if (n && !n.live) cls.push('notlive');
  const t = n?.trit ?? v?.trit ?? null;
  const used = n && (n.memoryBytes !== null || n.diskBytes !== null) ? ` · ${bytes(n.memoryBytes)} mem · ${bytes(n.diskBytes)} files` : '';
  const lines: string[] = [];
  let title: string;
  let what: string;
  if (v) {
    title = `${v.name}  p ${v.probability}`;
    what = `verse ${v.name} of ${e?.id ?? ''}, probability ${v.probability}`;
    lines.push(`${winner ? '★ winner' : collapsed ? 'collapsed' : state} · ${n ? short(n.id, 12) : 'no world'}`);
    const held = model.totalsIn(v.verse);
    lines.push(Object.keys(held).length ? `holds ${amounts(held)}` : `${n ? age(n.createdAt, now) : ''}${used}`);
  } else if (n && n.kind === 'snapshot') {
    title = `◆ ${short(n.id, 14)}${n.name ? ` ${n.name}` : ''}`;
    what = `snapshot ${n.id}${n.name ? ` named ${n.name}` : ''}`;
    lines.push(`${state}${n.snapshotTimeMs !== null ? ` · ${ms(n.snapshotTimeMs)}` : ''} · ${age(n.createdAt, now)}`);
    if (used) lines.push(used.slice(3));
  } else {
    const nn = n as NonNullable<typeof n>;
    title = `▣ ${short(nn.id, 16)}`;
    what = `world ${nn.id}`;
    lines.push(`${state} · ${nn.type === 'microvm' ? 'microvm' : 'process'} · ${nn.memoryMib ?? '?'} MiB`);
    lines.push(`${age(nn.createdAt, now)}${used}`);
  }
  const label = `${what}, ${collapsed ? 'collapsed' : state}${n && !n.live ? ', not live' : ''}${t !== null ? `, trit ${trit(t)}` : ''}${winner ? ', winner' : ''}, ${lines.join(', ')}`;
  return { cls: cls.join(' '), title, tritText: trit(t), trit: t, lines, label };
}

export class TreeView {
  readonly svg: SVGSVGElement;
  private readonly viewport: SVGGElement;
  private readonly edgeLayer: SVGGElement;
  private readonly nodeLayer: SVGGElement;
  private readonly nodes = new Map<string, SVGGElement>();
  private readonly edges = new Map<string, SVGPathElement>();
  private view: View = { x: 20, y: 20, k: 1 };
  private current: Layout | null = null;
  private active: string | null = null;
  private fitted = false;
  /** The time of the last full render, for the bench (`performance` entries say the same). */
  lastRenderMs = 0;

  constructor(
    private readonly model: Model,
    private readonly open: (key: string) => void,
  ) {
    this.viewport = s('g', { class: 'viewport' });
    this.edgeLayer = s('g', { class: 'edges', 'aria-hidden': 'true' });
    this.nodeLayer = s('g', { class: 'nodes', role: 'group' });
    this.viewport.append(this.edgeLayer, this.nodeLayer);
    this.svg = s('svg', { id: 'tree', role: 'tree', 'aria-label': 'Worlds, snapshots and verses', tabindex: '-1' }, this.viewport);
    this.pointer();
    this.svg.addEventListener('keydown', (e) => this.key(e));
  }

  get layout(): Layout | null {
    return this.current;
  }

  render(): void {
    const t0 = performance.now();
    const lay = layout(this.model);
    this.current = lay;
    const now = Date.now();
    const seen = new Set<string>();
    for (const it of lay.order) {
      seen.add(it.key);
      const d = describe(it, this.model, now);
      const sig = JSON.stringify(d);
      let g = this.nodes.get(it.key);
      if (!g) {
        g = s('g', { 'data-key': it.key, tabindex: '-1', role: 'treeitem' });
        g.addEventListener('focus', () => this.focusOn(it.key, false));
        this.nodes.set(it.key, g);
        this.nodeLayer.append(g);
      }
      if (g.dataset.sig !== sig) this.draw(g, d);
      g.dataset.sig = sig;
      g.setAttribute('aria-level', String(it.depth + 1));
      g.setAttribute('transform', `translate(${it.x},${it.y})`);
      if (it.parent) this.edge(it);
      else this.edges.get(it.key)?.remove();
    }
    for (const [key, g] of this.nodes) {
      if (seen.has(key)) continue;
      g.remove();
      this.nodes.delete(key);
      this.edges.get(key)?.remove();
      this.edges.delete(key);
    }
    for (const [key, p] of this.edges) {
      if (!lay.items.get(key)?.parent) {
        p.remove();
        this.edges.delete(key);
      }
    }
    if (!this.active || !lay.items.has(this.active)) this.setActive(lay.order[0]?.key ?? null);
    if (!this.fitted && lay.order.length > 0 && this.svg.clientWidth > 0) {
      this.fit(true);
      this.fitted = true;
    }
    this.apply();
    this.lastRenderMs = performance.now() - t0;
    performance.mark('tree-rendered', { detail: { nodes: lay.order.length, ms: this.lastRenderMs } });
  }

  /** Show everything (`initial`: not smaller than a readable scale, anchored at the top left). */
  fit(initial = false): void {
    const lay = this.current;
    if (!lay) return;
    const w = this.svg.clientWidth || 800;
    const h = this.svg.clientHeight || 600;
    let k = Math.min(w / (lay.width + 40), h / (lay.height + 40), 1.2);
    if (initial) k = Math.max(k, 0.45);
    k = Math.max(MIN_K, Math.min(MAX_K, k));
    this.view = { k, x: initial ? 20 : (w - lay.width * k) / 2, y: initial && lay.height * k > h ? 20 : (h - lay.height * k) / 2 };
    this.apply();
  }

  zoom(factor: number, cx = this.svg.clientWidth / 2, cy = this.svg.clientHeight / 2): void {
    const k = Math.max(MIN_K, Math.min(MAX_K, this.view.k * factor));
    const f = k / this.view.k;
    this.view = { k, x: cx - (cx - this.view.x) * f, y: cy - (cy - this.view.y) * f };
    this.apply();
  }

  /** Make `key` the tree's tab stop and focus it, panning it into view. */
  focusOn(key: string, focus = true): void {
    this.setActive(key);
    const g = this.nodes.get(key);
    if (focus && g && document.activeElement !== g) g.focus({ preventScroll: true });
    this.reveal(key);
  }

  select(key: string | null): void {
    for (const g of this.nodeLayer.querySelectorAll('.selected')) g.classList.remove('selected');
    if (key) this.nodes.get(key)?.classList.add('selected');
  }

  private setActive(key: string | null): void {
    if (this.active && this.active !== key) this.nodes.get(this.active)?.setAttribute('tabindex', '-1');
    this.active = key;
    if (key) this.nodes.get(key)?.setAttribute('tabindex', '0');
  }

  private reveal(key: string): void {
    const it = this.current?.items.get(key);
    if (!it) return;
    const { x, y, k } = this.view;
    const [w, h] = [this.svg.clientWidth, this.svg.clientHeight];
    const sx = it.x * k + x;
    const sy = it.y * k + y;
    if (sx >= 0 && sy >= 0 && sx + NODE_W * k <= w && sy + NODE_H * k <= h) return;
    this.view = { k, x: w / 2 - (it.x + NODE_W / 2) * k, y: h / 2 - (it.y + NODE_H / 2) * k };
    this.apply();
  }

  private apply(): void {
    this.viewport.setAttribute('transform', `translate(${this.view.x},${this.view.y}) scale(${this.view.k})`);
  }

  private draw(g: SVGGElement, d: ReturnType<typeof describe>): void {
    g.setAttribute('class', d.cls);
    g.setAttribute('aria-label', d.label);
    g.replaceChildren(
      s('rect', { width: NODE_W, height: NODE_H }),
      s('text', { class: 'title', x: 10, y: 18 }, d.title),
      s('text', { class: tritClass(d.trit), x: NODE_W - 10, y: 18, 'text-anchor': 'end' }, d.tritText),
      // About 6 px a character at this size: what fits in the box.
      ...d.lines.map((line, i) => s('text', { class: 'sub', x: 10, y: 35 + i * 14 }, line.length > 31 ? `${line.slice(0, 30)}…` : line)),
      s('title', {}, d.label),
    );
  }

  private edge(it: Item): void {
    const p = it.parent as Item;
    const x1 = p.x + NODE_W;
    const y1 = p.y + NODE_H / 2;
    const x2 = it.x;
    const y2 = it.y + NODE_H / 2;
    const mx = x1 + (COL - NODE_W) / 2;
    const dpath = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
    let path = this.edges.get(it.key);
    if (!path) {
      path = s('path', {});
      this.edges.set(it.key, path);
      this.edgeLayer.append(path);
    }
    if (path.getAttribute('d') !== dpath) path.setAttribute('d', dpath);
    const gone = it.verse?.collapsed === true || (it.node !== null && GONE.has(it.node.state));
    path.setAttribute('class', gone ? 'edge gone' : 'edge');
  }

  private pointer(): void {
    let drag: { id: number; x: number; y: number; vx: number; vy: number; moved: boolean; key: string | null } | null = null;
    this.svg.addEventListener('pointerdown', (e) => {
      if (e.button !== 0) return;
      const key = (e.target as Element).closest('[data-key]')?.getAttribute('data-key') ?? null;
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y, moved: false, key };
    });
    this.svg.addEventListener('pointermove', (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      if (!drag.moved) {
        drag.moved = true;
        this.svg.setPointerCapture(e.pointerId);
        this.svg.classList.add('dragging');
      }
      this.view = { ...this.view, x: drag.vx + dx, y: drag.vy + dy };
      this.apply();
    });
    const end = (e: PointerEvent) => {
      if (!drag || e.pointerId !== drag.id) return;
      const { moved, key } = drag;
      drag = null;
      this.svg.classList.remove('dragging');
      if (!moved && key && e.type === 'pointerup') {
        this.focusOn(key);
        this.open(key);
      }
    };
    this.svg.addEventListener('pointerup', end);
    this.svg.addEventListener('pointercancel', end);
    this.svg.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const r = this.svg.getBoundingClientRect();
        this.zoom(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
      },
      { passive: false },
    );
  }

  private key(e: KeyboardEvent): void {
    const lay = this.current;
    if (!lay) return;
    const it = this.active ? lay.items.get(this.active) : undefined;
    const i = it ? lay.order.indexOf(it) : -1;
    let next: Item | undefined;
    switch (e.key) {
      case 'ArrowDown':
        next = lay.order[Math.min(lay.order.length - 1, i + 1)];
        break;
      case 'ArrowUp':
        next = lay.order[Math.max(0, i - 1)];
        break;
      case 'ArrowRight':
        next = it?.children[0];
        break;
      case 'ArrowLeft':
        next = it?.parent ?? undefined;
        break;
      case 'Home':
        next = lay.order[0];
        break;
      case 'End':
        next = lay.order[lay.order.length - 1];
        break;
      case 'Enter':
      case ' ':
        if (it) this.open(it.key);
        break;
      case '+':
      case '=':
        this.zoom(1.25);
        break;
      case '-':
        this.zoom(0.8);
        break;
      case '0':
        this.fit();
        break;
      default:
        return;
    }
    e.preventDefault();
    if (next) this.focusOn(next.key);
  }
}
