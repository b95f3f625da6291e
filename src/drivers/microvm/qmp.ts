/**
 * @module
 * Line-delimited JSON channels to a VM: QMP (QEMU's monitor protocol, here over QEMU's stdin/stdout) and the
 * guest agent (agent/PROTOCOL.md over the virtio-serial port's unix socket; the envelope is read by
 * agent-protocol.ts, as for the process driver).
 */
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { DriverError } from '../../base/errors.js';
import { decodeMessage, EVENT_BUDGET } from '../agent-protocol.js';
import { DEFAULT_MAX_LINE_BYTES, JsonLineReader } from '../lines.js';

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };

export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly klass: string,
    desc: string,
  ) {
    super(`QMP ${command}: ${klass}: ${desc}`);
  }
}

/**
 * QMP client. Commands are written at once (QEMU handles them in order, so `qmp_capabilities` and the
 * commands after it can be pipelined before the greeting arrives) and matched to replies by id.
 */
export class Qmp extends EventEmitter {
  private nextId = 1;
  private readonly pending = new Map<number, Pending & { command: string }>();
  private closedWith: Error | null = null;

  constructor(
    private readonly input: Writable,
    output: Readable,
  ) {
    super();
    input.on('error', () => {
      /* reported through close() when QEMU exits */
    });
    new JsonLineReader(output, {
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      onOverflow: (err) => this.close(new DriverError(`QMP: ${err.message}`, err)),
      onLine: (msg) => {
        if ('QMP' in msg) {
          this.emit('greeting', msg);
          return;
        }
        if (typeof msg.event === 'string') {
          this.emit('event', msg.event, (msg.data ?? {}) as Record<string, unknown>);
          this.emit(msg.event, (msg.data ?? {}) as Record<string, unknown>);
          return;
        }
        const id = typeof msg.id === 'number' ? msg.id : -1;
        const p = this.pending.get(id);
        if (!p) return;
        this.pending.delete(id);
        if ('error' in msg) {
          const err = (msg.error ?? {}) as { class?: string; desc?: string };
          p.reject(new QmpError(p.command, err.class ?? 'Error', err.desc ?? 'unknown error'));
        } else {
          p.resolve((msg.return ?? {}) as Record<string, unknown>);
        }
      },
    });
  }

  command(execute: string, args?: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, command: execute });
      this.input.write(`${JSON.stringify(args ? { execute, arguments: args, id } : { execute, id })}\n`);
    });
  }

  close(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/** The agent answered with an error: its code and message as sent (agentError() says what they stand for). */
export class AgentReplyError extends Error {
  constructor(
    readonly code: unknown,
    readonly agentMessage: unknown,
  ) {
    super(typeof agentMessage === 'string' ? agentMessage : 'agent error');
  }
}

/** The guest streamed more event data for one request than it was allowed. */
export class AgentFloodError extends Error {}

type AgentPending = { resolve: (v: unknown) => void; reject: (e: Error) => void; onEvent?: (event: string, data: string) => void; budget: number };

/**
 * Client of the guest agent: one JSON request per line, replies matched by id, streamed events routed. What the
 * guest sends is not trusted: a request that streams more than its budget is rejected with AgentFloodError.
 */
export class AgentClient {
  private nextId = 1;
  private readonly pending = new Map<number, AgentPending>();
  private closedWith: Error | null = null;

  constructor(
    private readonly output: Writable,
    input: Readable,
  ) {
    output.on('error', () => {
      /* reported through close() */
    });
    new JsonLineReader(input, {
      maxLineBytes: DEFAULT_MAX_LINE_BYTES,
      onOverflow: (err) => this.close(new DriverError(`guest agent: ${err.message}`, err)),
      onLine: (line) => {
        const msg = decodeMessage(line);
        if (msg.kind === 'unsolicited') return;
        const p = this.pending.get(msg.id);
        if (!p) return;
        if (msg.kind === 'event') {
          p.budget -= msg.data.length + 16;
          if (p.budget < 0) {
            this.pending.delete(msg.id);
            p.reject(new AgentFloodError('it streamed more output for one request than the runtime accepts'));
            return;
          }
          p.onEvent?.(msg.event, msg.data);
          return;
        }
        this.pending.delete(msg.id);
        if (msg.kind === 'result') p.resolve(msg.result);
        else p.reject(new AgentReplyError(msg.code, msg.message));
      },
    });
  }

  /** Send one request; `reply` resolves with its `result` (unchecked: agent-protocol.ts decodes it). */
  request(
    op: string,
    args: Record<string, unknown> = {},
    onEvent?: (event: string, data: string) => void,
    budget = EVENT_BUDGET,
  ): { id: number; reply: Promise<unknown> } {
    const id = this.nextId++;
    if (this.closedWith) return { id, reply: Promise.reject(this.closedWith) };
    const reply = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onEvent, budget });
      this.output.write(`${JSON.stringify({ ...args, id, op })}\n`);
    });
    return { id, reply };
  }

  /** Stop waiting for a request (e.g. after a host-side timeout). */
  forget(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(err);
  }

  close(err: Error): void {
    if (this.closedWith) return;
    this.closedWith = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
