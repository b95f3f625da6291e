/**
 * @module
 * The pool of started fork trees that `create` takes from: each holds a spare world, born with default
 * limits, that a create only has to activate (src/drivers/process/driver.ts). Kept topped up in the
 * background; size 0 turns it off.
 */
import type { AgentConnection } from './control.js';
import type { Tree } from './tree.js';

export interface SpareTree {
  tree: Tree;
  conn: AgentConnection;
  /** The keeper's name for the spare world. */
  key: string;
}

export class TreePool {
  private readonly ready: SpareTree[] = [];
  private starts: Promise<void>[] = [];
  private closed = false;

  constructor(
    private readonly size: number,
    /** Starts one tree with its spare (and ends the tree itself when that fails). */
    private readonly startOne: () => Promise<SpareTree>,
    private readonly warn: (msg: string) => void,
  ) {
    this.refill();
  }

  /** A ready spare, or undefined; one already on its way is waited for: sooner than a competing cold start. */
  async take(): Promise<SpareTree | undefined> {
    if (this.ready.length === 0 && this.starts.length > 0) await Promise.race(this.starts);
    const spare = this.ready.shift();
    this.refill();
    return spare;
  }

  /** Stop refilling; the trees of the spares it held, for the caller to end. */
  async close(): Promise<Tree[]> {
    this.closed = true;
    await Promise.allSettled(this.starts);
    return this.ready.splice(0).map((s) => s.tree);
  }

  private refill(): void {
    while (!this.closed && this.ready.length + this.starts.length < this.size) {
      const start: Promise<void> = this.startOne()
        .then(async (spare) => {
          if (this.closed) {
            await spare.tree.end().catch(() => {});
            return;
          }
          this.ready.push(spare);
          spare.conn.once('close', () => {
            const i = this.ready.indexOf(spare);
            if (i >= 0) this.ready.splice(i, 1);
          });
        })
        .catch((err: Error) => {
          if (!this.closed) this.warn(`world-runtime: could not start a spare tree: ${err.message}`);
        })
        .finally(() => {
          this.starts = this.starts.filter((p) => p !== start);
        });
      this.starts.push(start);
    }
  }
}
