/**
 * @module
 * A server-sent-events response: `event: <name>` + `data: <one line of JSON>` per event, a comment line as a
 * keep-alive while the action is quiet. Used by exec and run (`stdout`/`stderr` events, then `result` or
 * `error`).
 */
import type { ServerResponse } from 'node:http';

/** Keep-alive comment interval, so proxies and idle timers do not cut a long, silent exec. */
const HEARTBEAT_MS = 15_000;

export class SseStream {
  started = false;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly res: ServerResponse) {}

  /** Commit to a 200 event stream (idempotent). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    this.res.flushHeaders();
    this.heartbeat = setInterval(() => this.res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  send(event: string, data: unknown): void {
    this.start();
    // JSON.stringify never emits a raw newline, so one `data:` line holds the whole event.
    this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  end(): void {
    clearInterval(this.heartbeat);
    this.res.end();
  }
}
