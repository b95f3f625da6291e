/**
 * @module
 * One owner per database file. DuckDB takes an OS file lock, so a second *process* fails to open the file;
 * this turns that failure into `HomeLockedError` naming the holder. The OS lock is per process, though: a
 * second open of the same file inside one process would succeed and two instances would then write one
 * file. The registry here refuses that too.
 */
import path from 'node:path';
import { HomeLockedError } from '../base/errors.js';

const openInThisProcess = new Set<string>();

/** Key for the registry: the absolute path (":memory:" databases are never shared, so never registered). */
export function lockKey(dbPath: string): string | null {
  return dbPath === ':memory:' || dbPath === '' ? null : path.resolve(dbPath);
}

/** Claim `key` for this process, or throw `HomeLockedError` when this process already has it open. */
export function claim(key: string | null, dbPath: string): void {
  if (key === null) return;
  if (openInThisProcess.has(key)) {
    throw lockedError(dbPath, `this process (PID ${process.pid})`, process.pid);
  }
  openInThisProcess.add(key);
}

/** Give back a claim made by `claim`. */
export function release(key: string | null): void {
  if (key !== null) openInThisProcess.delete(key);
}

/**
 * DuckDB's text is e.g. `IO Error: Could not set lock on file "/x/world-runtime.duckdb": Conflicting lock is
 * held in /usr/bin/node (PID 4153). See also …`. Returns the holder (`PID 4153 (/usr/bin/node)`) or null
 * when the error is not a lock conflict.
 */
export function parseLockHolder(message: string): { holder: string; pid: number | null } | null {
  if (!/could not set lock on file/i.test(message)) return null;
  const m = /Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(message);
  if (!m) return { holder: 'another process', pid: null };
  const pid = Number(m[2]);
  return { holder: `PID ${pid} (${m[1]})`, pid };
}

/** A `HomeLockedError` for a database file, with the file and the holder's PID in `details`. */
export function lockedError(dbPath: string, holder: string, pid: number | null, cause?: unknown): HomeLockedError {
  const err = new HomeLockedError(path.dirname(path.resolve(dbPath)), holder);
  // HomeLockedError's constructor takes no extras; the facts a client needs go in its details bag.
  err.details.dbPath = path.resolve(dbPath);
  err.details.pid = pid;
  if (cause !== undefined) Object.defineProperty(err, 'cause', { value: cause, enumerable: false, configurable: true });
  return err;
}
