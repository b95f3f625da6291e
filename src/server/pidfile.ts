/**
 * @module
 * `<home>/daemon.pid`, created exclusively: at most one daemon serves a home, so two CLIs that auto-start at
 * once cannot leave two daemons fighting over one socket. A file whose process is gone is stale and taken over.
 */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { HomeLockedError } from '../base/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Write our pid to `path`, or throw `HomeLockedError` when a live process already holds it. */
export function claimPidFile(path: string, home: string): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
    } catch {}
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new HomeLockedError(home, `a daemon (pid ${holder}; if that process is not a world-runtime daemon, remove ${path})`);
    }
    try {
      unlinkSync(path);
    } catch {}
  }
  throw new HomeLockedError(home, `another daemon starting at the same time (${path})`);
}

/** Remove `path` if it still names this process. */
export function releasePidFile(path: string): void {
  try {
    if (Number.parseInt(readFileSync(path, 'utf8'), 10) === process.pid) unlinkSync(path);
  } catch {}
}
