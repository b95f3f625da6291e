/**
 * @module
 * One loop per running sandbox that collects what envd would push: new output and exits of the commands
 * someone is streaming, and queued directory events. Each round is one guest `tick` call for every
 * subscriber at once; rounds come fast while something happens and slow down to one per
 * {@link MAX_DELAY_MS} when nothing does, and stop when nobody listens.
 */
import type { World } from '../../index.js';
import { ConnectError, toConnectError } from './connect.js';
import { guestCall } from './guest.js';

const MAX_DELAY_MS = 25;

export interface ExitInfo {
  code: number;
  status: string;
}

/** Someone streaming a command's output from the given offsets. */
export interface ProcessSub {
  kind: 'process';
  pid: number;
  outOff: number;
  errOff: number;
  onData(stream: 'stdout' | 'stderr', data: Buffer): void;
  onExit(exit: ExitInfo): void;
  /** The sandbox or the process went away without an exit to report. */
  onGone(err: ConnectError): void;
  /** True while the client has not taken what it was sent: no more is read for it until it does. */
  full?(): boolean;
}

export interface GuestEvent {
  name: string;
  type: 'create' | 'write' | 'remove' | 'rename' | 'chmod';
  entry?: Record<string, unknown>;
}

export interface WatchSub {
  kind: 'watch';
  wid: string;
  onEvents(events: GuestEvent[]): void;
  onGone(err: ConnectError): void;
}

export type Sub = ProcessSub | WatchSub;

interface TickAnswer {
  p: Record<string, { gone?: boolean; o?: string; e?: string; oo?: number; eo?: number; x?: ExitInfo }>;
  w: Record<string, { gone?: boolean; ev?: GuestEvent[]; overflow?: boolean }>;
}

export class Poller {
  private readonly subs = new Set<Sub>();
  private running = false;
  private stopped: ConnectError | null = null;
  private wake: (() => void) | null = null;
  private kicked = false;

  constructor(private readonly world: World) {}

  add(sub: Sub): void {
    if (this.stopped) {
      sub.onGone(this.stopped);
      return;
    }
    this.subs.add(sub);
    this.kick();
  }

  remove(sub: Sub): void {
    this.subs.delete(sub);
  }

  /** Poll again now (a command was given input, a file was written). */
  kick(): void {
    if (this.wake) this.wake();
    else if (!this.running) void this.loop();
    else this.kicked = true;
  }

  get isStopped(): boolean {
    return this.stopped !== null;
  }

  /** End every subscription with `err`; the poller takes no more. */
  stop(err: ConnectError): void {
    this.stopped ??= err;
    for (const s of [...this.subs]) {
      this.subs.delete(s);
      s.onGone(err);
    }
    this.wake?.();
  }

  private async loop(): Promise<void> {
    this.running = true;
    let delay = 1;
    try {
      while (this.subs.size > 0 && !this.stopped) {
        let busy = false;
        try {
          busy = await this.round();
        } catch (err) {
          // An answer of the wrong shape (the world's code tampered with the helper): end, do not throw.
          this.stop(new ConnectError('internal', `the sandbox helper gave a malformed answer: ${(err as Error).message}`));
          break;
        }
        if (this.stopped || this.subs.size === 0) break;
        delay = busy || this.kicked ? 1 : Math.min(delay * 2, MAX_DELAY_MS);
        this.kicked = false;
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            this.wake = null;
            resolve();
          }, delay);
          this.wake = () => {
            clearTimeout(t);
            this.wake = null;
            delay = 1;
            resolve();
          };
        });
      }
    } finally {
      this.running = false;
    }
  }

  /** One tick; true when anything came. */
  private async round(): Promise<boolean> {
    const subs = [...this.subs];
    const procs = subs.filter((s): s is ProcessSub => s.kind === 'process' && !s.full?.());
    const watches = subs.filter((s): s is WatchSub => s.kind === 'watch');
    let answer: TickAnswer;
    try {
      answer = await guestCall<TickAnswer>(this.world, 'tick', { p: procs.map((s) => [s.pid, s.outOff, s.errOff]), w: watches.map((s) => s.wid) });
    } catch (err) {
      // The world is gone or broken: nothing more will come for anyone.
      const e = toConnectError(err);
      this.stop(e.code === 'unavailable' ? e : new ConnectError('unavailable', `the sandbox stopped answering: ${e.message}`));
      return false;
    }
    let busy = false;
    for (const s of procs) {
      if (!this.subs.has(s)) continue;
      const r = answer.p?.[String(s.pid)];
      if (!r) continue;
      if (r.gone) {
        this.subs.delete(s);
        s.onGone(new ConnectError('not_found', `process ${s.pid} is gone`));
        continue;
      }
      for (const [stream, b64, next] of [
        ['stdout', r.o, r.oo],
        ['stderr', r.e, r.eo],
      ] as const) {
        if (b64) {
          busy = true;
          s.onData(stream, Buffer.from(b64, 'base64'));
        }
        if (typeof next === 'number') {
          if (stream === 'stdout') s.outOff = next;
          else s.errOff = next;
        }
      }
      if (r.x) {
        this.subs.delete(s);
        s.onExit(r.x);
      }
    }
    for (const s of watches) {
      if (!this.subs.has(s)) continue;
      const r = answer.w?.[s.wid];
      if (!r) continue;
      if (r.gone) {
        this.subs.delete(s);
        s.onGone(new ConnectError('not_found', 'the watch is gone'));
        continue;
      }
      if (r.ev && r.ev.length > 0) {
        busy = true;
        s.onEvents(r.ev);
      }
      if (r.overflow) {
        this.subs.delete(s);
        s.onGone(new ConnectError('resource_exhausted', 'more directory events came than the watch could hold; watch again'));
      }
    }
    return busy;
  }
}
