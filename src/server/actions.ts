/**
 * @module
 * The closed set of things a client can ask of the daemon (STYLE §1). Route files decode an HTTP request into
 * exactly one `WorldAction`; `Executor.execute` runs it against the runtime; `reply.ts` maps what comes back
 * (a result or an error) to a status and a body. The CLI builds the same actions and sends them with
 * `requestFor` (encode.ts), so both sides share one vocabulary.
 *
 * Ledger amounts travel as canonical decimal strings (`'100'`), never as numbers: they are `bigint`s up to
 * 2^128 − 1 in the ledger, past what a JSON number holds exactly. The executor turns them into `bigint`s.
 */

import type { Trit } from '../base/types.js';
import type { VerseChild } from '../core/verses.js';
import type { EntityState, EntityType } from '../store/types.js';

/** Options shared by the two ways of branching (from a world, from a snapshot). */
export interface BranchFields {
  count: number;
  trits?: (Trit | null)[];
  metadata?: Record<string, unknown>;
  sameRandom?: boolean;
}

export type WorldAction =
  // Worlds
  | { kind: 'world.create'; trit?: Trit | null; memoryMib?: number; vcpus?: number; diskMib?: number; metadata?: Record<string, unknown> }
  | { kind: 'world.list' }
  | { kind: 'world.get'; id: string }
  | { kind: 'world.destroy'; id: string }
  | { kind: 'world.exec'; id: string; code: string; timeoutMs?: number }
  | { kind: 'world.run'; id: string; command: string | string[]; cwd?: string; env?: Record<string, string>; timeoutMs?: number }
  | { kind: 'world.writeFile'; id: string; path: string; data: Uint8Array }
  | { kind: 'world.readFile'; id: string; path: string }
  | { kind: 'world.snapshot'; id: string; name?: string }
  | ({ kind: 'world.branch'; id: string } & BranchFields)
  // Snapshots
  | { kind: 'snapshot.list' }
  | { kind: 'snapshot.get'; id: string }
  | { kind: 'snapshot.destroy'; id: string }
  | ({ kind: 'snapshot.branch'; id: string } & BranchFields)
  // The seed's Morph-style calls (POST /v1/sandboxes...)
  | { kind: 'sandbox.create'; snapshotId?: string; metadata?: Record<string, unknown> }
  | { kind: 'sandbox.snapshot'; id: string; name?: string }
  | { kind: 'sandbox.execute'; id: string; code: string }
  // World-level verses (push-down snapshots a world into one verse-world per child; pull-up resolves)
  | {
      kind: 'verse.pushDown';
      id: string;
      event?: string;
      children?: VerseChild[];
      allowUnbalancedTrits?: boolean;
      snapshotName?: string;
    }
  | { kind: 'verse.list' }
  | { kind: 'verse.get'; event: string }
  | { kind: 'verse.execute'; event: string; code: string | Record<string, string> }
  | { kind: 'verse.pullUp'; event: string; outcome?: string; oracle?: 'manual' | 'score'; score?: string }
  // The Multiverse Finance ledger (amounts: decimal strings)
  | { kind: 'ledger.deposit'; owner: string; asset: string; amount: string; verse?: string }
  | { kind: 'ledger.withdraw'; owner: string; asset: string; amount: string; verse?: string }
  | { kind: 'ledger.transfer'; verse: string; asset: string; from: string; to: string; amount: string }
  | { kind: 'ledger.pushDown'; event: string; owner: string; asset: string; amount: string }
  | { kind: 'ledger.pullUp'; event: string; owner: string; asset: string; amount: string }
  | { kind: 'ledger.balances'; verse?: string; owner?: string; asset?: string }
  | { kind: 'ledger.verses' }
  | { kind: 'ledger.events' }
  | { kind: 'ledger.journal'; limit?: number }
  | { kind: 'ledger.check' }
  // The DuckDB record
  | { kind: 'record.entities'; state?: EntityState; type?: EntityType; limit?: number }
  | { kind: 'record.branches'; limit?: number }
  | { kind: 'record.resolutions'; limit?: number }
  | { kind: 'record.metrics'; limit?: number }
  // The machine and the daemon
  | { kind: 'system.doctor' }
  | { kind: 'system.health' };

export type ActionKind = WorldAction['kind'];
export type ActionOf<K extends ActionKind> = Extract<WorldAction, { kind: K }>;

/** Every action kind, for tests and the route table check. */
export const ACTION_KINDS: readonly ActionKind[] = [
  'world.create',
  'world.list',
  'world.get',
  'world.destroy',
  'world.exec',
  'world.run',
  'world.writeFile',
  'world.readFile',
  'world.snapshot',
  'world.branch',
  'snapshot.list',
  'snapshot.get',
  'snapshot.destroy',
  'snapshot.branch',
  'sandbox.create',
  'sandbox.snapshot',
  'sandbox.execute',
  'verse.pushDown',
  'verse.list',
  'verse.get',
  'verse.execute',
  'verse.pullUp',
  'ledger.deposit',
  'ledger.withdraw',
  'ledger.transfer',
  'ledger.pushDown',
  'ledger.pullUp',
  'ledger.balances',
  'ledger.verses',
  'ledger.events',
  'ledger.journal',
  'ledger.check',
  'record.entities',
  'record.branches',
  'record.resolutions',
  'record.metrics',
  'system.doctor',
  'system.health',
];

/** Actions whose success makes something new (HTTP 201). */
export const CREATING_ACTIONS: ReadonlySet<ActionKind> = new Set<ActionKind>([
  'world.create',
  'world.snapshot',
  'world.branch',
  'snapshot.branch',
  'sandbox.create',
  'sandbox.snapshot',
  'verse.pushDown',
]);

/** Actions that can stream output (server-sent events) while they run. */
export const STREAMING_ACTIONS: ReadonlySet<ActionKind> = new Set<ActionKind>(['world.exec', 'world.run']);
