/**
 * @module
 * `Ledger`: the Multiverse Finance ledger (docs/ledger.md) with DuckDB persistence and group commit.
 * The in-memory {@link LedgerState} is authoritative; every accepted operation is journaled and written in
 * one transaction together with the other operations of its batch, and acknowledged only after COMMIT.
 */

import { applyOp, type Applied } from './apply.js';
import { checkLedger, compactBalances, journalTail } from './check.js';
import { loadState, readJournal } from './load.js';
import { normalizeOp } from './normalize.js';
import { ensureSchema, rollbackQuietly, SerialConnection } from './schema.js';
import { closeOwned, openSource, type LedgerSource, type Opened } from './source.js';
import type { LedgerState } from './state.js';
import { ledgerError, rootOnly } from './validate.js';
import { GroupCommit } from './writer.js';
import {
  ROOT_VERSE,
  type BalanceRow,
  type CheckReport,
  type EventInfo,
  type JournalEntry,
  type LedgerOpName,
  type PartitionSpec,
  type ResolveResult,
  type VerseInfo,
} from './types.js';

/** What a listener of {@link Ledger.onCommitted} hears: one durable operation and the entries it changed. */
export interface CommittedOp {
  seq: number;
  op: LedgerOpName;
  /** The new amount of every entry the operation changed (`0n`: the entry is gone, e.g. evaporated). */
  balances: BalanceRow[];
}

// Journal rows past the balance snapshot above which open() compacts first.
const COMPACT_AFTER = 50_000;

export type { LedgerSource };

/** Options of {@link Ledger.open}. */
export interface LedgerOptions {
  /** Most operations committed in one transaction. @default 1024 */
  maxBatch?: number;
}

/**
 * The verse ledger. Open one per database; all methods may be called concurrently.
 *
 * @example
 * const L = await Ledger.open('/tmp/ledger.duckdb');
 * await L.deposit('alice', 'usd', 100n);
 * await L.partition(L.root, {                             // -> ['rain/yes', 'rain/no']
 *   event: 'rain', children: [{ name: 'yes', probability: '0.3', trit: 1 }, { name: 'no', probability: '0.7', trit: -1 }],
 * });
 * await L.pushDown('rain', 'alice', 'usd', 40n);           // root 60, rain/yes 40, rain/no 40
 * const { wev } = await L.resolve('rain', 'rain/yes', 'manual'); // wev = { usd: 40n }, rain/no collapsed
 * await L.pullUp('rain', 'alice', 'usd', 40n);             // root 100 again
 * await L.close();
 */
export class Ledger {
  private closed = false;
  private reloading: Promise<void> | null = null;
  private broken: Error | null = null;
  private readonly writer: GroupCommit;
  private readonly listeners = new Set<(op: CommittedOp) => void>();

  private constructor(
    private readonly db: SerialConnection,
    private state: LedgerState,
    private readonly owned: Opened['owned'],
    options: LedgerOptions,
  ) {
    this.writer = new GroupCommit(db, state.seq, (err) => this.restore(err), options.maxBatch ?? 1024);
  }

  /**
   * Open (creating the `ledger_` tables if absent) and load the state.
   * A path opens a DuckDB file owned by this ledger; an instance gets a connection of its own (the runtime
   * shares one database file this way); a connection must be used by this ledger alone, because group
   * commit sends `BEGIN … COMMIT` on it.
   * @throws LedgerError `SCHEMA_VERSION` when the tables were written by another schema version.
   */
  static async open(source: LedgerSource, options: LedgerOptions = {}): Promise<Ledger> {
    const { conn, owned } = await openSource(source);
    const db = new SerialConnection(conn);
    try {
      await ensureSchema(db);
      if ((await journalTail(db)) > COMPACT_AFTER) await compactBalances(db);
      return new Ledger(db, await loadState(db), owned, options);
    } catch (err) {
      closeOwned(owned);
      throw err;
    }
  }

  /** Id of the root verse. */
  get root(): string {
    return ROOT_VERSE;
  }

  /** Credit `owner` with `amount` of `asset` in the root verse. Resolves with the op's sequence number. */
  async deposit(owner: string, asset: string, amount: bigint, verse: string = ROOT_VERSE): Promise<number> {
    rootOnly('deposit', verse);
    return (await this.run('deposit', { owner, asset, amount })).entry.seq;
  }

  /** Debit `owner`'s root balance. @throws LedgerError `INSUFFICIENT_BALANCE`, `ROOT_ONLY`. */
  async withdraw(owner: string, asset: string, amount: bigint, verse: string = ROOT_VERSE): Promise<number> {
    rootOnly('withdraw', verse);
    return (await this.run('withdraw', { owner, asset, amount })).entry.seq;
  }

  /** Move `amount` from `from` to `to` inside one live verse. */
  async transfer(verse: string, asset: string, from: string, to: string, amount: bigint): Promise<number> {
    return (await this.run('transfer', { verse, asset, from, to, amount })).entry.seq;
  }

  /**
   * Create event `spec.event` under `parentVerse`: one child verse per `spec.children` entry, with id
   * `${event}/${name}`. Resolves with the child ids in the given order.
   * @throws LedgerError `BAD_PROBABILITIES`, `GF3_UNBALANCED`, `NOT_A_PARTITION`, `DUPLICATE_EVENT`, …
   */
  async partition(parentVerse: string, spec: PartitionSpec): Promise<string[]> {
    const raw = typeof spec === 'object' && spec !== null ? spec : ({} as PartitionSpec);
    return (await this.run('partition', { ...raw, parent: parentVerse })).result as string[];
  }

  /** Move `amount` from the event's parent into every child (`amount` each). */
  async pushDown(event: string, owner: string, asset: string, amount: bigint): Promise<number> {
    return (await this.run('pushDown', { event, owner, asset, amount })).entry.seq;
  }

  /** Take `amount` from every surviving child of the event and credit it once to the parent. */
  async pullUp(event: string, owner: string, asset: string, amount: bigint): Promise<number> {
    return (await this.run('pullUp', { event, owner, asset, amount })).entry.seq;
  }

  /** The oracle's verdict: `winningVerse` stays, the other children and their subtrees collapse. */
  async resolve(event: string, winningVerse: string, oracleSource: string): Promise<ResolveResult> {
    return (await this.run('resolve', { event, winner: winningVerse, oracleSource })).result as ResolveResult;
  }

  /** Amount `owner` holds in `verse` (0 once it collapsed). @throws LedgerError `UNKNOWN_VERSE`. */
  async balance(verse: string, owner: string, asset: string): Promise<bigint> {
    return this.read((s) => {
      if (!s.verseMap.has(verse)) throw ledgerError('UNKNOWN_VERSE', `no verse "${verse}"`, { verse });
      return s.balance(verse, owner, asset);
    });
  }

  /** Every non-zero balance, sorted by verse, owner, asset. */
  async balances(): Promise<BalanceRow[]> {
    return this.read((s) => s.balanceRows());
  }

  /** Every verse, in creation order. */
  async verses(): Promise<VerseInfo[]> {
    return this.read((s) => s.verseInfos());
  }

  /** Every event (partition), in creation order. */
  async events(): Promise<EventInfo[]> {
    return this.read((s) => s.eventInfos());
  }

  /** The journal (read from the database) up to the last operation accepted before this call. */
  async journal(): Promise<JournalEntry[]> {
    const seq = await this.read((s) => s.seq);
    return readJournal(this.db, seq);
  }

  /** Replay the stored journal from empty and verify it against the tables, memory and the invariants. */
  async check(): Promise<CheckReport> {
    this.assertUsable();
    return this.writer.exclusive(async () => {
      if (this.reloading) await this.reloading;
      return checkLedger(this.db, this.state);
    });
  }

  /**
   * Snapshot the current balances into `ledger_balance_base` so reading `ledger_balances` skips older
   * journal rows (done on open when more than 50,000 rows are newer than the snapshot).
   */
  async compact(): Promise<void> {
    this.assertUsable();
    await this.writer.exclusive(() => compactBalances(this.db));
  }

  /**
   * Hear every operation once it is durable (after its COMMIT), in journal order within a batch. A listener
   * that throws is ignored. Returns the function that stops listening.
   */
  onCommitted(listener: (op: CommittedOp) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Sequence number of the last committed operation. */
  get committedSeq(): number {
    return this.writer.committedSeq;
  }

  /** Batches and operations committed so far (for benchmarks). */
  get commitStats(): { batches: number; ops: number } {
    return { ...this.writer.stats };
  }

  /** Wait for every accepted operation to commit, then release the connection/instance the ledger opened. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writer.exclusive(async () => undefined).catch(() => undefined);
    closeOwned(this.owned);
  }

  // Validation and application happen synchronously here, before the first await, so operations take
  // effect in call order; the returned promise waits for the batch's COMMIT.
  private async run(op: LedgerOpName, raw: Record<string, unknown>): Promise<Applied> {
    if (this.reloading) await this.reloading;
    this.assertUsable();
    const applied = applyOp(this.state, normalizeOp(op, raw), new Date().toISOString());
    await this.writer.submit(applied);
    if (this.listeners.size > 0) {
      const done: CommittedOp = { seq: applied.entry.seq, op: applied.entry.op, balances: applied.effect.balances.map((b) => ({ ...b })) };
      for (const l of this.listeners) {
        try {
          l(done);
        } catch {
          // A listener's failure is its own; the operation is committed.
        }
      }
    }
    return applied;
  }

  // Capture the answer now, then wait until every operation it reflects is durable.
  private async read<T>(fn: (s: LedgerState) => T): Promise<T> {
    if (this.reloading) await this.reloading;
    this.assertUsable();
    const value = fn(this.state);
    await this.writer.barrier(this.state.seq);
    return value;
  }

  private assertUsable(): void {
    if (this.closed) throw ledgerError('CLOSED', 'the ledger is closed: open it again with Ledger.open()');
    if (this.broken) throw ledgerError('COMMIT_FAILED', `the ledger could not reload after a failed commit: ${this.broken.message}`);
  }

  // After a failed commit: roll back and reload the authoritative state from the tables.
  private restore(_err: unknown): Promise<void> {
    const p = (async () => {
      await rollbackQuietly(this.db);
      this.state = await loadState(this.db);
      this.writer.committedSeq = this.state.seq; // the tables are the truth now (another writer may have added rows)
    })()
      .catch((e: unknown) => {
        this.broken = e instanceof Error ? e : new Error(String(e));
      })
      .finally(() => {
        this.reloading = null;
      });
    this.reloading = p;
    return p;
  }
}
