/**
 * @module
 * A one-at-a-time lane for the writer connection: a DuckDB connection has one transaction at a time, so
 * a batch and, say, `markRunningAsLost` must not interleave their statements on it.
 */

/** Runs queued async tasks strictly one after another. */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  /** Run `task` after every task queued before it has settled; resolves or rejects with its result. */
  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task, task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
