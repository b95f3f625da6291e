/**
 * @module
 * How the web view answers: its pages, scripts and JSON, each with headers that keep it to itself (scripts
 * and styles from this origin only, no framing, no sniffing, no referrer, nothing cached). These are the
 * view's own HTTP statuses (its pages, its login, its refusals); the actions it dispatches are answered by
 * the daemon's API handling like any /v1 request.
 */
import type { ServerResponse } from 'node:http';

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
};

export function send(res: ServerResponse, status: number, body: string | Buffer, type: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': type, 'content-length': bytes.byteLength });
  res.end(bytes);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  send(res, status, `${JSON.stringify(value)}\n`, 'application/json; charset=utf-8', headers);
}

/** The daemon's error body, `{error: {code, name, message, details}}`, for the view's own refusals. */
export function sendFault(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { error: { code, name: 'HttpFault', message, details: {} } }, headers);
}

/** A small page for a browser that reached the view without a session (or with a spent code). */
export function sendNotice(res: ServerResponse, status: number, title: string, text: string, headers: Record<string, string> = {}): void {
  const html = `<!doctype html><html lang="en"><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<body style="font:16px system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>\n`;
  // The notice's inline style needs its own allowance; nothing else in the page could use it.
  send(res, status, html, 'text/html; charset=utf-8', {
    ...headers,
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  });
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export const PLAIN_HEADERS = SECURITY_HEADERS;
