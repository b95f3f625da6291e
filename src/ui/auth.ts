/**
 * @module
 * Who may use the web view. `world-runtime ui` asks the daemon (over its unix socket, or TCP with the bearer
 * token) for a one-time login code: 256 random bits, spent by its first use, dead after two minutes. Visiting
 * `/ui/login?code=…` trades it for a session cookie (HttpOnly, SameSite=Strict, path /ui), so the daemon's
 * token never goes into a URL, a browser history or a page. Sessions live in the daemon's memory: a restart
 * ends them. Every request is also held to this listener's own Host (against DNS rebinding: a page of
 * another name resolving to 127.0.0.1) and, where the browser says where it comes from (`Origin`,
 * `Sec-Fetch-Site`), to this origin: cookies are not kept apart by port, so a page served by another local
 * port counts as the same site and must be refused by its origin.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** How long a login code lives. */
export const CODE_TTL_MS = 2 * 60_000;
/** How long a session lives after its login. */
export const SESSION_TTL_MS = 12 * 60 * 60_000;
/** Codes waiting to be used, and sessions, at most: the oldest make way, so no client can grow them. */
const MAX_CODES = 16;
const MAX_SESSIONS = 64;

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function secret(): string {
  return randomBytes(32).toString('base64url');
}

export class Sessions {
  private codes: { digest: Buffer; expires: number }[] = [];
  /** sha256 (hex) of the cookie's value → expiry. Keyed by digest: a lookup's timing says nothing of a live value. */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A fresh one-time code and when it expires. */
  mintCode(): { code: string; expiresAt: Date } {
    const code = secret();
    const expires = this.now() + CODE_TTL_MS;
    this.codes = [...this.codes.filter((c) => c.expires > this.now()), { digest: digest(code), expires }].slice(-MAX_CODES);
    return { code, expiresAt: new Date(expires) };
  }

  /** Spend `code`: a new session's cookie value, or null for a wrong, spent or expired code. */
  redeem(code: string): string | null {
    const given = digest(code);
    const now = this.now();
    // Every pending code is compared, in constant time, whichever matches.
    let match = -1;
    this.codes.forEach((c, i) => {
      if (timingSafeEqual(c.digest, given) && c.expires > now) match = i;
    });
    if (match < 0) return null;
    this.codes.splice(match, 1);
    const token = secret();
    this.sessions.set(digest(token).toString('hex'), now + SESSION_TTL_MS);
    while (this.sessions.size > MAX_SESSIONS) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    return token;
  }

  valid(token: string | null): boolean {
    if (!token) return false;
    const key = digest(token).toString('hex');
    const expires = this.sessions.get(key);
    if (expires === undefined) return false;
    if (expires <= this.now()) {
      this.sessions.delete(key);
      return false;
    }
    return true;
  }

  end(token: string | null): void {
    if (token) this.sessions.delete(digest(token).toString('hex'));
  }
}

/** The cookie's name: one per port, since browsers share cookies between the ports of a host. */
export function cookieName(port: number): string {
  return `wr_ui_${port}`;
}

/** The value of cookie `name` in the request, or null. */
export function readCookie(req: IncomingMessage, name: string): string | null {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim() || null;
  }
  return null;
}

export function sessionCookie(name: string, token: string): string {
  return `${name}=${token}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}`;
}

export function clearedCookie(name: string): string {
  return `${name}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0`;
}

/**
 * Why this request must be refused (403), or null: a Host that is not this listener's, a cross-origin
 * `Origin`, a `Sec-Fetch-Site` other than same-origin or none (a typed or opened URL), or a request that
 * changes something without saying its origin.
 */
export function refusal(req: IncomingMessage, hosts: readonly string[]): string | null {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hosts.includes(host)) return `Host ${JSON.stringify(host)} is not this daemon's listener (${hosts.join(' or ')})`;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `cross-site request refused (Sec-Fetch-Site: ${site})`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) return `cross-origin request refused (Origin: ${origin})`;
  const safe = req.method === 'GET' || req.method === 'HEAD';
  if (!safe && origin === undefined) return `${req.method} without an Origin header refused`;
  return null;
}
