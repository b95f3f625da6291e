/**
 * @module
 * `Store`: the DuckDB record of worlds, branches, resolutions and timings (the record's four tables), shared by
 * the library and the daemon. Writes are write-behind (see writer.ts) so recording never waits on DuckDB;
 * reads flush first so a caller sees its own writes.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { RuntimeClosedError } from '../base/errors.js';
import { claim, lockedError, lockKey, parseLockHolder, release } from './lock.js';
import { currentVersion, runMigrations } from './migrate.js';
import { branchRec, entityId as checkId, entityRec, metricRec, patchRec, resolutionRec, verseWorldRec } from './ops.js';
import { type EntityFilter, readBranches, readEntities, readMetricSummary, readMetrics, readResolutions, readVerseWorlds } from './read.js';
import { STORE_MIGRATIONS, STORE_MIGRATIONS_TABLE } from './schema.js';
import { Serial } from './serial.js';
import { str, tsOrNull } from './sql.js';
import type {
  BranchInput,
  BranchRow,
  EntityInput,
  EntityPatch,
  EntityRow,
  EntityState,
  MetricInput,
  MetricRow,
  MetricSummary,
  ResolutionInput,
  ResolutionRow,
  VerseWorldInput,
  VerseWorldRow,
} from './types.js';
import { type StoreErrorHandler, WriteBehind, type WriteStats } from './writer.js';

/** Options of `Store.open`. */
export interface StoreOptions {
  /** Write queued rows this long after the first one was queued. @default 200 */
  flushIntervalMs?: number;
  /** Write at once (next turn of the event loop) when this many rows are queued. @default 500 */
  flushThreshold?: number;
  /** Most rows in one transaction. @default 2000 */
  maxBatch?: number;
  /** Called for every write failure (rows kept for retry, or one refused row dropped). @default a process warning */
  onError?: StoreErrorHandler;
  /** DuckDB configuration of the instance (shared with the ledger), e.g. `{ threads: '1' }`. @default DuckDB's */
  duckdb?: Record<string, string>;
}

const defaultOnError: StoreErrorHandler = (err, info) => {
  const what = info.kind === 'dropped' ? `dropped ${info.row ?? 'a row'}` : `will retry, ${info.pending} rows pending`;
  process.emitWarning(`world-runtime store: write failed (${what}): ${err.message}`, 'WorldRuntimeStoreWarning');
};

/** The DuckDB record. Open with `Store.open`; one `Store` per database file per process. */
export class Store {
  /** Absolute path of the database file (or ":memory:"). */
  readonly path: string;
  /**
   * The DuckDB instance, for modules that keep their own tables in the same file (the ledger). Prefer
   * `connect()`, whose connections the store closes on `close()`.
   */
  readonly instance: DuckDBInstance;
  /** Schema version of the file after migrations (equals `STORE_SCHEMA_VERSION`). */
  readonly schemaVersion: number;

  private readonly writer: WriteBehind;
  private readonly lane = new Serial();
  private readonly extra: DuckDBConnection[] = [];
  private isClosed = false;
  private closing: Promise<void> | null = null;
  /** Reads in flight on the read connection, awaited by close() before the connection goes away. */
  private readonly reads = new Set<Promise<unknown>>();

  private constructor(
    dbPath: string,
    private readonly key: string | null,
    instance: DuckDBInstance,
    private readonly writeConn: DuckDBConnection,
    private readonly readConn: DuckDBConnection,
    schemaVersion: number,
    options: StoreOptions,
  ) {
    this.path = dbPath;
    this.instance = instance;
    this.schemaVersion = schemaVersion;
    this.writer = new WriteBehind(writeConn, this.lane, {
      intervalMs: options.flushIntervalMs ?? 200,
      threshold: options.flushThreshold ?? 500,
      maxBatch: options.maxBatch ?? 2000,
      onError: options.onError ?? defaultOnError,
    });
  }

  /**
   * Open (creating if needed) the database file and bring its schema up to date.
   * @param dbPath the file, e.g. `<home>/world-runtime.duckdb` (its directory is created), or ":memory:"
   * @throws {HomeLockedError} (code `HOME_LOCKED`) when another process, or this one, has the file open;
   *   `details.holder`/`details.pid` name the holder
   * @throws {SchemaTooNewError} when the file was written by a newer world-runtime
   */
  static async open(dbPath: string, options: StoreOptions = {}): Promise<Store> {
    const file = dbPath === ':memory:' ? dbPath : path.resolve(dbPath);
    const key = lockKey(file);
    claim(key, file);
    let instance: DuckDBInstance | undefined;
    try {
      if (key !== null) mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      instance = await openInstance(file, options.duckdb ?? {});
      const writeConn = await instance.connect();
      // All timestamps in the file are UTC, including the CURRENT_TIMESTAMP defaults of migration 1 (used by others).
      await writeConn.run("SET GLOBAL TimeZone = 'UTC'").catch(() => undefined);
      await runMigrations(writeConn, STORE_MIGRATIONS, { table: STORE_MIGRATIONS_TABLE, dbPath: file });
      const version = await currentVersion(writeConn, STORE_MIGRATIONS_TABLE);
      const readConn = await instance.connect();
      return new Store(file, key, instance, writeConn, readConn, version, options);
    } catch (err) {
      instance?.closeSync();
      release(key);
      throw err;
    }
  }

  /** A new connection to the same database (for the ledger's own tables and transactions); closed by `close()`. */
  async connect(): Promise<DuckDBConnection> {
    this.assertOpen();
    const conn = await this.instance.connect();
    this.extra.push(conn);
    return conn;
  }

  /** True once `close()` has been called. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Rows recorded but not yet written. */
  get pending(): number {
    return this.writer.pending;
  }

  /** Counters of the write-behind queue (batches, rows written, replays, dropped rows, retries). */
  get writeStats(): WriteStats {
    return this.writer.stats;
  }

  /**
   * Queue a new `world_runtime_entities` row. Synchronous and cheap; written by the next batch.
   * @throws {InvalidArgumentError} for a malformed row (nothing is queued)
   */
  recordEntity(row: EntityInput): void {
    this.assertOpen();
    this.writer.push({ kind: 'entity', row: entityRec(row, Date.now()) });
  }

  /**
   * Queue a change of an entity's `state`, `resolved_at` and/or `snapshot_id`. Applied after the entity's
   * insert; an update of an entity that was never recorded changes nothing.
   */
  updateEntity(entityId: string, patch: EntityPatch): void {
    this.assertOpen();
    this.writer.push({ kind: 'update', entityId: checkId(entityId), patch: patchRec(patch) });
  }

  /** Queue a `world_branches` row (its parent entity must be recorded before it, or it is refused). */
  recordBranch(row: BranchInput): void {
    this.assertOpen();
    this.writer.push({ kind: 'branch', row: branchRec(row, Date.now()) });
  }

  /** Queue a `runtime_metrics` row (its entity, when given, must be recorded before it). */
  recordMetric(row: MetricInput): void {
    this.assertOpen();
    this.writer.push({ kind: 'metric', row: metricRec(row, Date.now(), randomUUID) });
  }

  /** Queue a `verse_resolutions` row. */
  recordResolution(row: ResolutionInput): void {
    this.assertOpen();
    this.writer.push({ kind: 'resolution', row: resolutionRec(row, Date.now()) });
  }

  /** Queue a `verse_worlds` row: the world that lives in one child verse of a push-down. */
  recordVerseWorld(row: VerseWorldInput): void {
    this.assertOpen();
    this.writer.push({ kind: 'verseWorld', row: verseWorldRec(row, Date.now()) });
  }

  /**
   * Write every row recorded before this call. Rejects with the database error when a batch cannot be
   * written; those rows stay queued and are retried (and were reported to `onError`).
   */
  async flush(): Promise<void> {
    await this.writer.flush();
  }

  /**
   * Flush, then close every connection and the database. Idempotent. If the final flush fails, the store is
   * closed anyway and the promise rejects with that error (the unwritten rows were reported to `onError`).
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.isClosed = true;
    this.writer.stop();
    let failure: unknown;
    try {
      await this.writer.flush();
    } catch (err) {
      failure = err;
    }
    await this.lane.run(async () => undefined);
    await Promise.allSettled([...this.reads]);
    for (const conn of [...this.extra, this.readConn, this.writeConn]) {
      try {
        conn.closeSync();
      } catch {
        // Already closed by its user.
      }
    }
    this.instance.closeSync();
    release(this.key);
    if (failure !== undefined) throw failure;
  }

  /** Entities, newest first, optionally filtered by state and type. */
  async entities(filter: EntityFilter = {}): Promise<EntityRow[]> {
    return this.read(() => readEntities(this.readConn, filter));
  }

  /** Branching events, newest first. */
  async branches(opts: { limit?: number } = {}): Promise<BranchRow[]> {
    return this.read(() => readBranches(this.readConn, opts));
  }

  /** Verse resolutions, newest first. */
  async resolutions(opts: { limit?: number } = {}): Promise<ResolutionRow[]> {
    return this.read(() => readResolutions(this.readConn, opts));
  }

  /** Which world lives in which push-down verse, oldest first, each with its world's entity row; `events` narrows it. */
  async verseWorlds(opts: { events?: readonly string[] } = {}): Promise<VerseWorldRow[]> {
    return this.read(() => readVerseWorlds(this.readConn, opts));
  }

  /** Raw `runtime_metrics` rows, newest first. */
  async metrics(opts: { limit?: number } = {}): Promise<MetricRow[]> {
    return this.read(() => readMetrics(this.readConn, opts));
  }

  /** Per operation (create, snapshot, branch, memory, pull_up): count, p50, p99, min, max, mean. */
  async metricSummary(): Promise<MetricSummary[]> {
    return this.read(() => readMetricSummary(this.readConn));
  }

  /**
   * After a crash: set `state = 'lost'` (and `resolved_at`, when empty, to now — the time the loss was noticed)
   * on every entity still in one of `states`, and return their ids (oldest first). Flushes first.
   * @param options.states which states count as "was alive" @default ['running']
   */
  async markRunningAsLost(options: { states?: readonly EntityState[] } = {}): Promise<string[]> {
    this.assertOpen();
    const states = options.states ?? ['running'];
    for (const s of states) patchRec({ state: s }); // validates
    if (states.length === 0) return [];
    await this.writer.flush();
    const inList = states.map(str).join(', ');
    const conn = this.writeConn;
    return this.lane.run(async () => {
      await conn.run('BEGIN TRANSACTION');
      try {
        const reader = await conn.runAndReadAll(`SELECT entity_id FROM world_runtime_entities WHERE state IN (${inList}) ORDER BY created_at, rowid`);
        const ids = reader.getRows().map((r) => String(r[0]));
        // Not `UPDATE … RETURNING`: DuckDB refuses RETURNING on rows that a foreign key references.
        await conn.run(
          `UPDATE world_runtime_entities SET state = 'lost', resolved_at = coalesce(resolved_at, ${tsOrNull(Date.now())}) WHERE state IN (${inList})`,
        );
        await conn.run('COMMIT');
        return ids;
      } catch (err) {
        await conn.run('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** Flush (read-your-writes), then run `query` on the read connection, tracked so close() can wait for it. */
  private async read<T>(query: () => Promise<T>): Promise<T> {
    this.assertOpen();
    // A failing flush was reported to onError; reading what is there is still useful.
    await this.writer.flush().catch(() => undefined);
    this.assertOpen();
    const p = query();
    this.reads.add(p);
    try {
      return await p;
    } finally {
      this.reads.delete(p);
    }
  }

  private assertOpen(): void {
    if (this.isClosed) throw new RuntimeClosedError();
  }
}

/** `DuckDBInstance.create`, turning DuckDB's file-lock error into `HomeLockedError`. */
async function openInstance(file: string, config: Record<string, string>): Promise<DuckDBInstance> {
  try {
    return await DuckDBInstance.create(file, config);
  } catch (err) {
    const lock = err instanceof Error ? parseLockHolder(err.message) : null;
    if (lock) throw lockedError(file, lock.holder, lock.pid, err);
    throw err;
  }
}
