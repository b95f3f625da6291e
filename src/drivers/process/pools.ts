/**
 * @module
 * The pool of started fork trees that `create` takes from (the `pool.worlds` option): each holds a spare
 * world, born with default limits, that a create only has to activate (src/drivers/process/driver.ts). Kept
 * topped up in the background; size 0 turns it off. The pool owns its trees until one is taken: it ends
 * those it holds, and the starts still on their way, when it closes, so no half-started tree outlives it.
 */
import { randomBytes } from 'node:crypto';
import { DriverError } from '../../base/errors.js';
import { DEFAULT_DISK_MIB } from '../../base/limits.js';
import type { AgentConnection } from './control.js';
import { Tree, type TreeConfig } from './tree.js';

/** A spare tree's world is born with these limits; `create` sets its own on activation. */
export const SPARE_LIMITS = { memoryMib: 512, diskMib: DEFAULT_DISK_MIB };

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
  private readonly stop = new AbortController();

  constructor(
    private size: number,
    /** Starts one tree with its spare; ends the tree itself when that fails or `signal` aborts. */
    private readonly startOne: (signal: AbortSignal) => Promise<SpareTree>,
    private readonly warn: (msg: string) => void,
  ) {
    this.refill();
  }

  /** Spares ready now. */
  get readyCount(): number {
    return this.ready.length;
  }

  /** A ready spare, or undefined; one already on its way is waited for: sooner than a competing cold start. */
  async take(): Promise<SpareTree | undefined> {
    if (this.ready.length === 0 && this.starts.length > 0) await Promise.race(this.starts);
    const spare = this.ready.shift();
    this.refill();
    return spare;
  }

  /** Keep `size` spares from now on: ready ones beyond it are ended, missing ones started in the background. */
  async resize(size: number): Promise<void> {
    this.size = size;
    const extra = this.ready.splice(size);
    this.refill();
    await Promise.all(extra.map((s) => s.tree.end().catch(() => {})));
  }

  /** Stop refilling, end the starts in flight and the spares it holds; resolves once none is left. */
  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    await Promise.allSettled(this.starts);
    await Promise.all(this.ready.splice(0).map((s) => s.tree.end().catch(() => {})));
  }

  private refill(): void {
    while (!this.closed && this.ready.length + this.starts.length < this.size) {
      const start: Promise<void> = this.startOne(this.stop.signal)
        .then(async (spare) => {
          if (this.closed || this.ready.length >= this.size) {
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

/**
 * A started tree with a spare world born with default limits, for the pool `create` takes from. `signal`
 * (the pool closing) ends it wherever its start has got to.
 */
export async function startSpareTree(config: TreeConfig, signal: AbortSignal): Promise<SpareTree> {
  const tree = await Tree.start(`t-${randomBytes(5).toString('hex')}`, config, signal);
  const key = `spare-${randomBytes(5).toString('hex')}`;
  const { token, connection } = config.control.expect();
  const abort = () => {
    config.control.cancel(token, new DriverError('the driver closed while a spare tree started'));
    void tree.end().catch(() => {});
  };
  signal.addEventListener('abort', abort, { once: true });
  try {
    await tree.spawn({ id: key, role: 'spare', token, ...SPARE_LIMITS });
    const conn = await connection;
    if (signal.aborted) throw new DriverError('the driver closed while a spare tree started');
    return { tree, conn, key };
  } catch (err) {
    config.control.cancel(token, err as Error);
    await tree.end().catch(() => {});
    throw err;
  } finally {
    signal.removeEventListener('abort', abort);
  }
}
