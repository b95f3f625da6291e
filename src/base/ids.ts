import { randomBytes } from 'node:crypto';

/** Short, unique, prefixed ids: `w-` worlds, `s-` snapshots, `b-` branch events, `m-` metrics. */
export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}
