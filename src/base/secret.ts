/**
 * @module
 * Comparing what a client sent with a secret (a daemon token, a sandbox's access token) in time that does
 * not depend on how much of it matched, for every listener that authenticates.
 */
import { timingSafeEqual } from 'node:crypto';

/** True when `given` is one of `secrets`, compared in constant time (only the lengths can differ faster). */
export function isSecret(given: string | undefined, secrets: readonly Buffer[]): boolean {
  if (given === undefined) return false;
  const g = Buffer.from(given);
  return secrets.some((s) => s.length === g.length && timingSafeEqual(s, g));
}
