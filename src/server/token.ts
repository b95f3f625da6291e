/**
 * @module
 * The bearer token TCP clients must send. Generated on the daemon's first start, kept in `<home>/token`
 * (mode 0600, 64 hex digits); `$WORLD_RUNTIME_TOKEN` names one more accepted token (and is what clients send by default).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { readToken } from '../protocol/endpoint.js';

/** Read the token file, or create it (0600) with 32 random bytes. Tightens a looser mode it finds. */
export function ensureToken(path: string): string {
  const existing = readToken(path);
  if (existing) {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return existing;
  }
  // Hex, not base64url: a token starting with '-' reads as an option on a command line (`--token -x…`).
  const token = randomBytes(32).toString('hex');
  try {
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process won the race: use its token.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readToken(path) ?? token;
    throw err;
  }
  return token;
}
