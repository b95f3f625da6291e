/**
 * @module
 * What changes in a runtime, as it happens: worlds and snapshots made, ended or failed, push-downs and
 * pull-ups, code run, ledger operations committed. `WorldRuntime.onChange` hands these to listeners (the
 * daemon's web view turns them into live updates), so nobody has to poll for them.
 */
import type { ExecResult } from '../base/types.js';
import type { CommittedOp } from '../ledger/index.js';
import type { PullUpResult, PushDownResult } from './verses.js';
import type { Snapshot, World } from './world.js';

export type RuntimeChange =
  /** A world was made (create, branch, push-down) or its state changed (destroyed, failed, collapsed). */
  | { type: 'world'; world: World }
  /** A snapshot was taken, destroyed, or died with its process. */
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'pushDown'; result: PushDownResult }
  | { type: 'pullUp'; result: PullUpResult }
  /** Code ran in a world (and answered: an exec that threw is not reported). */
  | { type: 'exec'; world: World; code: string; result: ExecResult }
  /** A ledger operation is durable. */
  | { type: 'ledger'; op: CommittedOp };

export type ChangeListener = (change: RuntimeChange) => void;

/** A set of listeners; one that throws is skipped, never the runtime's own work. */
export class ChangeFeed {
  private readonly listeners = new Set<ChangeListener>();

  on(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(change: RuntimeChange): void {
    for (const l of this.listeners) {
      try {
        l(change);
      } catch {
        // A listener's failure is its own.
      }
    }
  }
}
