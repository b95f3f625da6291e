/**
 * @module
 * Group commit. Operations are validated and applied in memory in arrival order, then queued here; one
 * batch at a time is written as ONE DuckDB transaction and every promise of the batch resolves only after
 * its COMMIT returns. While a batch commits, the next one accumulates, so N concurrent clients share one
 * commit (and its fsync) instead of paying N. If a commit fails, the batch and everything queued behind it
 * (validated against a state that included the failed ops) are rejected and `onFailure` restores memory.
 */

import { batchSql, type BatchItem } from './sql.js';
import type { SerialConnection } from './schema.js';
import { ledgerError } from './validate.js';

interface Pending extends BatchItem {
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The commit pipeline of one ledger. */
export class GroupCommit {
  private queue: Pending[] = [];
  private waiters: Waiter[] = [];
  private inflight: Promise<void> | null = null;
  private scheduled = false;
  private paused = 0;
  /** Sequence number of the last committed operation. */
  committedSeq: number;
  /** Statistics for benchmarks: batches committed and operations in them. */
  readonly stats = { batches: 0, ops: 0 };

  constructor(
    private readonly db: SerialConnection,
    committedSeq: number,
    /** Restore the in-memory state after a failed commit; called synchronously from the failure path. */
    private readonly onFailure: (err: unknown) => Promise<void>,
    private readonly maxBatch = 1024,
  ) {
    this.committedSeq = committedSeq;
  }

  /** Queue an applied operation; resolves after the transaction holding it has committed. */
  submit(item: BatchItem): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...item, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once operation `seq` (and so every earlier one) is committed; rejects if it failed to commit. */
  barrier(seq: number): Promise<void> {
    if (seq <= this.committedSeq) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ seq, resolve, reject }));
  }

  /**
   * Run `fn` with nothing queued and nothing in flight (e.g. a consistent read of several tables):
   * automatic flushing pauses, the queue is drained, then `fn` starts synchronously.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.paused++;
    try {
      if (this.inflight) await this.inflight;
      while (this.queue.length > 0) await this.flushOnce();
      return await fn();
    } finally {
      this.paused--;
      this.schedule();
    }
  }

  // setImmediate, not a microtask: clients acknowledged by the previous commit get to submit their next op
  // first, so it joins this batch instead of paying for a commit of its own.
  private schedule(): void {
    if (this.scheduled || this.inflight || this.paused > 0 || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.inflight || this.paused > 0 || this.queue.length === 0) return;
      void this.flushOnce().finally(() => this.schedule());
    });
  }

  private flushOnce(): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    const run = this.commit(batch).finally(() => {
      this.inflight = null;
    });
    this.inflight = run;
    return run;
  }

  private async commit(batch: Pending[]): Promise<void> {
    const last = batch[batch.length - 1]?.entry.seq;
    if (last === undefined) return;
    try {
      await this.db.run(batchSql(batch));
    } catch (err) {
      const failed = batch.concat(this.queue.splice(0));
      // Start restoring before anything else can run, so no new op is validated against the failed state.
      const restore = this.onFailure(err);
      const error = ledgerError('COMMIT_FAILED', `commit of operations ${batch[0]?.entry.seq}…${last} failed: ${(err as Error).message}`, {
        firstSeq: batch[0]?.entry.seq,
        lastSeq: failed[failed.length - 1]?.entry.seq,
        cause: (err as Error).message,
      });
      for (const p of failed) p.reject(error);
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.reject(error);
      await restore.catch(() => undefined);
      return;
    }
    this.committedSeq = last;
    this.stats.batches++;
    this.stats.ops += batch.length;
    for (const p of batch) p.resolve();
    if (this.waiters.length > 0) {
      const ready = this.waiters.filter((w) => w.seq <= last);
      this.waiters = this.waiters.filter((w) => w.seq > last);
      for (const w of ready) w.resolve();
    }
  }
}
