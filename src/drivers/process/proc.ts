/**
 * @module
 * A world, snapshot or spare as the process driver knows it: its agent connection (which may still be on
 * its way: a snapshot exists from the instant of its fork, before it has connected) and its tree.
 */
import type { SnapshotHandle, WorldHandle } from '../driver.js';
import type { AgentConnection } from './control.js';
import type { Tree } from './tree.js';

export class Proc implements WorldHandle, SnapshotHandle {
  conn?: AgentConnection;
  /** Requests to one agent run one after another; a timeout starts when the request starts. */
  queue: Promise<unknown> = Promise.resolve();
  /** Set when the driver itself ends the process, so its disconnect is not reported as a crash. */
  ending = false;
  /** Why the driver killed it, when it did so because the world misbehaved. */
  failure?: string;
  /** Snapshots only: pre-forked copies waiting to become branches. */
  readonly spares: AgentConnection[] = [];
  refilling = false;
  /**
   * Children forked from this process that have not connected yet. Until a child connects it may still be in
   * this process's session, so killing the session must wait for them.
   */
  readonly unborn = new Set<Promise<unknown>>();

  /** Track a child's connection until it arrives (or fails). */
  expectChild(ready: Promise<unknown>): void {
    const settled = ready.then(
      () => {},
      () => {},
    );
    this.unborn.add(settled);
    void settled.then(() => this.unborn.delete(settled));
  }

  constructor(
    readonly id: string,
    readonly ready: Promise<AgentConnection>,
    readonly tree: Tree,
    readonly home: string,
  ) {
    ready.then(
      (c) => {
        this.conn = c;
      },
      () => {},
    );
  }
}
