/**
 * @module
 * A world, snapshot or spare as the process driver knows it: its agent connection (which may still be on
 * its way: a snapshot exists from the instant of its fork, before it has connected), its tree, and the id
 * its keeper knows it by.
 */
import { randomBytes } from 'node:crypto';
import { WorldFailedError } from '../../base/errors.js';
import { agentError } from '../agent-protocol.js';
import type { SnapshotHandle, WorldHandle } from '../driver.js';
import { type AgentConnection, AgentRequestError } from './control.js';
import type { Tree } from './tree.js';

export class Proc implements WorldHandle, SnapshotHandle {
  conn?: AgentConnection;
  /** Requests to one agent run one after another; a timeout starts when the request starts. */
  queue: Promise<unknown> = Promise.resolve();
  /** Set when the driver itself ends the process, so its disconnect is not reported as a crash. */
  ending = false;
  /** Why the world failed (a keeper's report, or the driver's own reason for killing it). */
  failure?: string;
  /** Snapshots only: pre-born branches waiting to be activated, each with the keeper id of its domain. */
  readonly spares: { conn: AgentConnection; key: string }[] = [];
  refilling = false;
  /** Settles with why the world ended once that is known (the keeper reports it just after the fact). */
  readonly exited: Promise<string>;
  private settle!: (reason: string) => void;

  constructor(
    readonly id: string,
    /** The keeper's name for this domain: the world id, or the spare's own id for an activated spare. */
    readonly key: string,
    readonly ready: Promise<AgentConnection>,
    readonly tree: Tree,
    readonly home: string,
    readonly memoryMib: number,
    readonly diskMib: number,
    /** Which kind of handle the caller holds: what a call with it after its end says was not found. */
    readonly kind: 'world' | 'snapshot' = 'world',
  ) {
    this.exited = new Promise((resolve) => {
      this.settle = resolve;
    });
    ready.then(
      (c) => {
        this.conn = c;
      },
      () => {},
    );
  }

  /**
   * Top the pre-born spares back up to `target()`, in the background, one refill at a time; `live()` says
   * whether this snapshot still wants them, `fork` births them (their keeper names are `keys`).
   */
  refillSpares(target: () => number, live: () => boolean, fork: (keys: string[]) => Promise<AgentConnection[]>): void {
    const want = target() - this.spares.length;
    if (want <= 0 || this.refilling || this.ending || !live()) return;
    this.refilling = true;
    const keys = Array.from({ length: want }, () => `spare-${randomBytes(5).toString('hex')}`);
    void fork(keys)
      .then(async (conns) => {
        for (const [i, conn] of conns.entries()) {
          const key = keys[i] as string;
          if (this.ending || !live()) {
            await this.tree.kill([key], true).catch(() => {});
            continue;
          }
          const spare = { conn, key };
          this.spares.push(spare);
          conn.once('close', () => {
            const at = this.spares.indexOf(spare);
            if (at >= 0) this.spares.splice(at, 1);
          });
        }
      })
      .catch(() => {}) // a failed refill only means the next branch forks on the spot
      .finally(() => {
        this.refilling = false;
        if (this.spares.length < target() && !this.ending) setImmediate(() => this.refillSpares(target, live, fork));
      });
  }

  /** End the spares beyond the first `keep`; resolves once they are gone. */
  async endSpares(keep: number): Promise<void> {
    const extra = this.spares.splice(keep).map((x) => x.key);
    if (extra.length > 0) await this.tree.kill(extra, true).catch(() => {});
  }

  /** Record why the world ended (the first reason wins). */
  fail(reason: string): void {
    this.failure ??= reason;
    this.settle(this.failure);
  }
}

/** Bytes of disk (what each wrote that still exists) and memory of each of `procs`, asked of their keepers. */
export async function usageOf(procs: Proc[]): Promise<Record<string, { diskBytes: number | null; memoryBytes: number | null }>> {
  const byTree = new Map<Tree, Proc[]>();
  for (const p of procs) byTree.set(p.tree, [...(byTree.get(p.tree) ?? []), p]);
  const out: Record<string, { diskBytes: number | null; memoryBytes: number | null }> = {};
  await Promise.all(
    [...byTree].map(async ([tree, ps]) => {
      const u = await tree.usage(ps.map((p) => p.key)).catch(() => ({}) as Record<string, { disk: null; memory: null }>);
      for (const p of ps) out[p.id] = { diskBytes: u[p.key]?.disk ?? null, memoryBytes: u[p.key]?.memory ?? null };
    }),
  );
  return out;
}

/** An agent's (or keeper's) error code as the library's error (agent-protocol.ts); `p` names the world a lost connection belonged to. */
export function toDriverError(err: unknown, p?: Proc): Error {
  if (!(err instanceof AgentRequestError)) return err as Error;
  if (err.code === 'GONE' && p) return new WorldFailedError(p.id, p.failure ?? err.message);
  return agentError(err.code, err.message, err);
}
