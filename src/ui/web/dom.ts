/**
 * @module
 * Small DOM helpers for the page: elements from a tag, attributes and children (text always as text
 * nodes, never parsed as HTML), SVG elements, and the formats the views share (bytes, durations, ages,
 * trits, amounts).
 */

export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

function apply(el: Element, attrs: Attrs | undefined, children: Child[]): void {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, children);
  return el;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  return `${n >= 100 ? Math.round(n) : n.toFixed(1)} ms`;
}

/** `3 min`, `2 h`, `5 d`: how long ago `iso` was. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '–';
  const s = Math.max(0, (now - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '–';
}

/** −1, 0, +1 as written, and the word for screen readers. */
export function trit(t: number | null | undefined): string {
  return t === null || t === undefined ? '' : t > 0 ? '+1' : t < 0 ? '−1' : '0';
}

export function tritClass(t: number | null | undefined): string {
  return t === null || t === undefined ? '' : t > 0 ? 'trit-p' : t < 0 ? 'trit-n' : 'trit-z';
}

/** `{usd: '80'}` → `80 usd`. */
export function amounts(m: Record<string, string> | null | undefined): string {
  const parts = Object.entries(m ?? {}).map(([a, x]) => `${x} ${a}`);
  return parts.length ? parts.join(', ') : '0';
}

export function short(id: string, keep = 10): string {
  return id.length > keep + 2 ? `${id.slice(0, keep)}…` : id;
}

/** Append children, skipping the empty ones (`null`, `false`, …). */
export function put(el: Element, ...children: Child[]): void {
  apply(el, undefined, children);
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}
