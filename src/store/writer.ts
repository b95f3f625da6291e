/**
 * @module
 * The write-behind queue. `push` is all a `record*` call costs: an array push and, for the first row, arming
 * a timer. A drain writes the queue in batches, each one DuckDB transaction (see batch.ts), every
 * `intervalMs` after the first queued row, at once when the queue reaches `threshold`, and on `flush()`.
 *
 * Failure handling, so that no row disappears silently:
 * - a batch that fails for a reason outside the rows (I/O, a write conflict…) stays queued, is reported to
 *   `onError` and retried with backoff (200 ms doubling to 5 s);
 * - a batch that the database refuses because of its data (a constraint, a conversion…) is rolled back and
 *   replayed one row per transaction: good rows are written, each refused row is reported to `onError`
 *   (with its label) and dropped, since retrying it could never succeed and would block every later row.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import { opLabel, opStatement, planBatch } from './batch.js';
import type { Op } from './ops.js';
import type { Serial } from './serial.js';

/** What `onError` is told besides the error itself. */
export interface StoreErrorInfo {
  /** `retry`: the rows are kept and will be written later; `dropped`: the database refused one row, which was discarded. */
  kind: 'retry' | 'dropped';
  /** Rows still waiting in the queue. */
  pending: number;
  /** For `dropped`: which row (e.g. `branch b-1`). */
  row?: string;
  /** For `retry`: when the next attempt is due. */
  retryInMs?: number;
}

/** Counters of the write-behind queue since the store was opened. */
export interface WriteStats {
  /** Batch transactions committed. */
  batches: number;
  /** Rows written (by batches or by replays). */
  written: number;
  /** Batches the database refused for their data and that were replayed row by row. */
  replays: number;
  /** Rows refused by the database and dropped (each reported to onError). */
  dropped: number;
  /** Failed write attempts whose rows were kept for retry. */
  retries: number;
}

/** Receives every write failure of the write-behind queue. */
export type StoreErrorHandler = (error: Error, info: StoreErrorInfo) => void;

export interface WriterOptions {
  intervalMs: number;
  threshold: number;
  maxBatch: number;
  onError: StoreErrorHandler;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;

/** DuckDB error classes that are about the statement's data, so replaying can never make them pass. */
const DATA_ERROR = /^(Constraint|Conversion|Invalid Input|Out of Range|Binder|Parser|Mismatch Type) Error/;

/** True when DuckDB refused the rows themselves (retrying the same rows is pointless). */
export function isDataError(err: unknown): boolean {
  return err instanceof Error && DATA_ERROR.test(err.message);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** The queue and its flusher; owns nothing but the queue (the connection belongs to the Store). */
export class WriteBehind {
  private queue: Op[] = [];
  private pushed = 0;
  private settled = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private draining: Promise<void> | null = null;
  private retryMs = 0;
  private stopped = false;
  private readonly counters: WriteStats = { batches: 0, written: 0, replays: 0, dropped: 0, retries: 0 };

  constructor(
    private readonly conn: DuckDBConnection,
    private readonly lane: Serial,
    private readonly opts: WriterOptions,
  ) {}

  /** Rows queued and not yet written (or dropped). */
  get pending(): number {
    return this.queue.length;
  }

  /** A copy of the counters. */
  get stats(): WriteStats {
    return { ...this.counters };
  }

  /** Queue one op; never blocks and never touches the database. */
  push(op: Op): void {
    this.queue.push(op);
    this.pushed++;
    if (this.stopped) return;
    if (this.queue.length >= this.opts.threshold) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.kick();
      });
    } else if (this.timer === null) {
      // Ref'd on purpose: rows waiting to be written keep the process alive for at most one interval.
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, this.opts.intervalMs);
    }
  }

  /** Write everything queued before this call; rejects (rows kept) when a batch cannot be written. */
  async flush(): Promise<void> {
    const target = this.pushed;
    while (this.settled < target) await this.drain();
  }

  /** Stop the timers (for close); `flush` still works afterwards. */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = null;
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Timer entry point: errors are already reported to onError, and a retry is scheduled. */
  private kick(): void {
    this.drain().catch(() => undefined);
  }

  private drain(): Promise<void> {
    this.draining ??= this.lane
      .run(() => this.writeAll())
      .finally(() => {
        this.draining = null;
      });
    return this.draining;
  }

  private async writeAll(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.opts.maxBatch);
      try {
        await this.writeBatch(batch);
        this.take(batch.length);
        this.counters.batches++;
        this.counters.written += batch.length;
      } catch (err) {
        try {
          if (!isDataError(err)) throw err;
          this.counters.replays++;
          await this.replay(batch.length);
        } catch (failure) {
          this.scheduleRetry(asError(failure));
          throw failure;
        }
      }
    }
    this.retryMs = 0;
    if (this.queue.length === 0) this.clearTimer();
  }

  private take(n: number): void {
    this.queue.splice(0, n);
    this.settled += n;
  }

  private async writeBatch(batch: readonly Op[]): Promise<void> {
    await this.conn.run('BEGIN TRANSACTION');
    try {
      for (const sql of planBatch(batch)) await this.conn.run(sql);
      await this.conn.run('COMMIT');
    } catch (err) {
      await this.conn.run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** One op per transaction, in order, for the first `n` queued ops; drops (and reports) refused ones. */
  private async replay(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const op = this.queue[0];
      if (op === undefined) return;
      try {
        await this.conn.run(opStatement(op));
      } catch (err) {
        if (!isDataError(err)) throw err;
        this.take(1);
        this.counters.dropped++;
        this.report(asError(err), { kind: 'dropped', pending: this.queue.length, row: opLabel(op) });
        continue;
      }
      this.take(1);
      this.counters.written++;
    }
  }

  private scheduleRetry(err: Error): void {
    this.counters.retries++;
    this.retryMs = Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, this.retryMs * 2));
    this.report(err, { kind: 'retry', pending: this.queue.length, retryInMs: this.stopped ? undefined : this.retryMs });
    if (this.stopped) return;
    this.clearTimer();
    // Unref'd: a database that keeps failing must not hold the process open; the rows were reported.
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, this.retryMs);
    this.timer.unref();
  }

  private report(err: Error, info: StoreErrorInfo): void {
    try {
      this.opts.onError(err, info);
    } catch {
      // A throwing handler must not break the flusher.
    }
  }
}
