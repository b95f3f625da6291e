/**
 * @module
 * Paths and users as envd takes them, mapped onto a world. A world's home is /world; E2B's is /home/user.
 * So a relative path (or `~/...`) resolves under /world, and a path under /home/user is read as the same
 * path under /world: an E2B program that writes `/home/user/data.csv` finds it at `data.csv` in its
 * commands and code. Answers name the real path (/world/...). Other absolute paths are the world's own
 * (its /tmp, the read-only system files). A world has one user: asking for another (`user: 'root'`) is
 * refused, not ignored.
 */
import { posix } from 'node:path';
import { ConnectError } from './connect.js';

export const HOME = '/world';
const E2B_HOME = '/home/user';

export function resolvePath(path: string | undefined): string {
  if (path === undefined || path === '' || path === '~') return HOME;
  if (path.includes('\0')) throw new ConnectError('invalid_argument', 'path must not contain NUL');
  let p = path;
  if (p.startsWith('~/')) p = `${HOME}/${p.slice(2)}`;
  else if (p === E2B_HOME || p.startsWith(`${E2B_HOME}/`)) p = HOME + p.slice(E2B_HOME.length);
  else if (!p.startsWith('/')) p = `${HOME}/${p}`;
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The user a request names, from `Authorization: Basic base64(user:)` or a `username` parameter. */
export function checkUser(authorization: string | undefined, username?: string | null): void {
  let user = username ?? undefined;
  if (!user && authorization) {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
    if (m) user = Buffer.from(m[1] as string, 'base64').toString('utf8').split(':')[0];
  }
  if (user === undefined || user === '' || user === 'user') return;
  throw new ConnectError(
    'permission_denied',
    `user "${user}" is not available: world-runtime runs everything in a sandbox as the world's own unprivileged user (leave user unset, or "user")`,
  );
}
