/**
 * @module
 * The web view's live updates: one server-sent-event stream per open page, fed by the runtime's change feed
 * (`rt.onChange`). Each change becomes one small message, numbered: a world or snapshot's new facts, an
 * event's, the balances an operation changed, an exec. A page fetches the tree once, then applies the
 * messages numbered after it; nothing polls. A comment line every 15 s keeps idle connections open. The
 * execs are also kept here, the last few hundred with their texts cut short, for the node pages.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RuntimeChange } from '../core/changes.js';
import type { WorldRuntime } from '../core/runtime.js';
import { PLAIN_HEADERS } from './respond.js';
import { eventNode, snapshotNode, worldNode } from './tree.js';
import type { EventNode, ExecEntry, FeedMessages } from './web/model.js';

const HEARTBEAT_MS = 15_000;
/** Open streams at most; one more is refused (each page holds one). */
export const MAX_STREAMS = 64;
/** A stream whose client reads slower than this much unsent output is cut (it reconnects and refetches). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** Execs kept for the node pages, and how much of each text. */
const EXEC_LOG = 500;
const TEXT_MAX = 4096;

function cut(s: string, max = TEXT_MAX): { text: string; cut: boolean } {
  return s.length > max ? { text: `${s.slice(0, max)}…`, cut: true } : { text: s, cut: false };
}

export class Feed {
  /** The number of the last message sent. */
  seq = 0;
  readonly startedAt = new Date();
  private readonly streams = new Set<ServerResponse>();
  private readonly execs: ExecEntry[] = [];
  /** The JSON last sent per event, so a pull-up re-sends only the events it changed. */
  private readonly sentEvents = new Map<string, string>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly stop: () => void;

  constructor(private readonly rt: WorldRuntime) {
    this.stop = rt.onChange((c) => this.onChange(c));
    this.heartbeat = setInterval(() => {
      for (const res of this.streams) res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Answer `req` with the stream; false when too many are open. */
  open(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.streams.size >= MAX_STREAMS) return false;
    res.writeHead(200, { ...PLAIN_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    this.streams.add(res);
    const drop = () => {
      this.streams.delete(res);
      // A page that connects later loads everything on its hello: what was sent before is no longer news.
      if (this.streams.size === 0) this.sentEvents.clear();
    };
    req.once('close', drop);
    res.once('close', drop);
    this.write(res, 'hello', { seq: this.seq, startedAt: this.startedAt.toISOString() });
    return true;
  }

  /** The execs of `world`, newest first. */
  execsOf(world: string, limit = 20): ExecEntry[] {
    const out: ExecEntry[] = [];
    for (let i = this.execs.length - 1; i >= 0 && out.length < limit; i--) if (this.execs[i]?.world === world) out.push(this.execs[i] as ExecEntry);
    return out;
  }

  close(): void {
    this.stop();
    clearInterval(this.heartbeat);
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  private onChange(c: RuntimeChange): void {
    // With no page listening, only the exec log (read by node pages) is kept: a push-down or a pull-up
    // must not pay for re-reading every event from the ledger and the record for nobody.
    if (this.streams.size === 0 && c.type !== 'exec') return;
    switch (c.type) {
      case 'world':
        this.send('node', { node: worldNode(c.world, this.rt.driver.name) });
        return;
      case 'snapshot':
        this.send('node', { node: snapshotNode(c.snapshot) });
        return;
      case 'pushDown':
        this.refreshEvents(c.result.event);
        return;
      case 'pullUp':
        // A resolution can collapse events nested under the losers too: re-read them all, send what changed.
        this.refreshEvents(null);
        return;
      case 'exec': {
        const [code, stdout, stderr, value] = [cut(c.code), cut(c.result.stdout), cut(c.result.stderr), cut(c.result.value ?? '', 1024)];
        const exec: ExecEntry = {
          world: c.world.id,
          at: new Date().toISOString(),
          code: code.text,
          stdout: stdout.text,
          stderr: stderr.text,
          value: c.result.value === undefined ? null : value.text,
          error: c.result.error ? { type: c.result.error.type, message: cut(c.result.error.message, 1024).text } : null,
          durationMs: c.result.durationMs,
          truncated: c.result.truncated || code.cut || stdout.cut || stderr.cut || value.cut,
        };
        this.execs.push(exec);
        if (this.execs.length > EXEC_LOG) this.execs.shift();
        this.send('exec', { exec });
        return;
      }
      case 'ledger':
        this.send('balances', {
          balances: c.op.balances.map((b) => ({ verse: b.verse, owner: b.owner, asset: b.asset, amount: b.amount.toString() })),
        });
        return;
    }
  }

  /** Send the events (one, or all) whose facts changed since last sent. Reads are async: errors only skip. */
  private refreshEvents(only: string | null): void {
    const read = only === null ? this.rt.events() : this.rt.event(only).then((e) => [e]);
    read.then(
      (events) => {
        for (const e of events) {
          const node: EventNode = eventNode(e);
          const json = JSON.stringify(node);
          if (this.sentEvents.get(node.id) === json) continue;
          this.sentEvents.set(node.id, json);
          this.send('event', { event: node });
        }
      },
      () => {},
    );
  }

  private send<K extends keyof FeedMessages>(name: K, data: Omit<FeedMessages[K], 'seq'>): void {
    this.seq += 1;
    const message = { seq: this.seq, ...data } as FeedMessages[K];
    for (const res of this.streams) this.write(res, name, message);
  }

  private write(res: ServerResponse, name: string, data: unknown): void {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      this.streams.delete(res);
      res.destroy();
      return;
    }
    // JSON.stringify never emits a raw newline, so one `data:` line carries the whole message.
    res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  }
}
