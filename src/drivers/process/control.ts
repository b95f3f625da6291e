/**
 * @module
 * The host end of the agent protocol (agent/PROTOCOL.md): one unix socket per runtime, one connection per
 * keeper and per agent process, newline-delimited JSON read through the bounded `JsonLineReader`.
 *
 * The socket's directory is the runtime's own (mode 0700) and no world's mount view contains it: a tree's
 * keeper connects, and it also opens each new world's connection and puts it into the world
 * (agent/keeper.py). A connection is matched to whoever asked for it by the one-time token its hello
 * carries, so no process can take another's place.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Server, type Socket, createServer } from 'node:net';
import { debuglog } from 'node:util';
import { DriverError } from '../../base/errors.js';
import { DEFAULT_MAX_LINE_BYTES, JsonLineReader } from '../lines.js';

export interface AgentError {
  code: string;
  message: string;
}

/** A failed request: the agent's own error code and message. */
export class AgentRequestError extends Error {
  override name = 'AgentRequestError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type EventHandler = (event: string, data: string) => void;

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  onEvent?: EventHandler;
  /** Event data this request may still receive: past it the peer is flooding, and is cut off. */
  budget: number;
}

// NODE_DEBUG=world-runtime traces every request and reply of every agent and keeper on stderr.
const trace = debuglog('world-runtime');

/** Event data one request may receive unless it says otherwise: twice the 1 MiB output cap, JSON-escaped. */
export const DEFAULT_EVENT_BUDGET = 4 * 1024 * 1024;
/** Messages answering no request that a world may send in its life (a keeper's events are not counted). */
const UNSOLICITED_LIMIT = 64;

interface Message {
  id?: number;
  ok?: boolean;
  result?: Record<string, unknown>;
  error?: AgentError;
  event?: string;
  data?: string;
  [key: string]: unknown;
}

/**
 * One agent process (keeper, world, snapshot or spare). Emits 'close' when its process goes away (or broke
 * the protocol: `failure` says how), and 'message' for messages that answer no request (keeper events).
 */
export class AgentConnection extends EventEmitter {
  readonly pid: number;
  readonly role: string;
  /** Set when the peer broke the protocol (a line past the limit): the reason the world failed. */
  failure?: string;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private unsolicited = 0;

  constructor(
    private readonly socket: Socket,
    hello: { pid: number; role: string },
  ) {
    super();
    this.pid = hello.pid;
    this.role = hello.role;
    socket.on('close', () => this.onClose());
    socket.on('error', () => {}); // 'close' follows and carries the news
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Send one request; resolves with its result, rejects with AgentRequestError or on disconnect. A peer that
   * streams more than `budget` bytes of events for it is cut off (its world fails with that reason).
   */
  request(op: string, args: Record<string, unknown> = {}, onEvent?: EventHandler, budget = DEFAULT_EVENT_BUDGET): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new AgentRequestError('GONE', this.failure ?? `agent ${this.pid} is gone`));
    const id = this.nextId++;
    trace('-> %s %d %s %j', this.role, this.pid, op, args);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onEvent, budget });
      this.socket.write(`${JSON.stringify({ ...args, id, op })}\n`);
    });
  }

  /** Deliver one parsed message from the agent. */
  dispatch(msg: Message): void {
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (!p || msg.id === undefined) {
      if (this.role === 'keeper') this.emit('message', msg);
      else if (typeof msg.fatal === 'string' && this.failure === undefined) this.fail(`it could not start: ${msg.fatal.slice(0, 500)}`);
      else if (++this.unsolicited > UNSOLICITED_LIMIT) this.fail(`it sent more than ${UNSOLICITED_LIMIT} messages answering no request`);
      return;
    }
    if (msg.event !== undefined) {
      const data = typeof msg.data === 'string' ? msg.data : '';
      p.budget -= data.length + 16;
      if (p.budget < 0) {
        this.fail('it streamed more output for one request than the runtime accepts');
        return;
      }
      p.onEvent?.(String(msg.event), data);
      return;
    }
    this.pending.delete(msg.id);
    trace('<- %s %d %j', this.role, this.pid, msg.ok ? msg.result : msg.error);
    if (msg.ok) p.resolve(msg.result ?? {});
    else p.reject(new AgentRequestError(String(msg.error?.code ?? 'AGENT'), String(msg.error?.message ?? 'agent error')));
  }

  /** Cut the connection because the peer broke the protocol; pending requests fail with `reason`. */
  fail(reason: string): void {
    this.failure ??= reason;
    this.socket.destroy();
  }

  close(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    const why = this.failure ?? `agent ${this.pid} disconnected`;
    for (const p of this.pending.values()) p.reject(new AgentRequestError('GONE', why));
    this.pending.clear();
    this.emit('close');
  }
}

interface Waiter {
  resolve: (conn: AgentConnection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/** The runtime's listening socket. `expect()` hands out a token and waits for the agent that presents it. */
export class ControlServer {
  private readonly waiters = new Map<string, Waiter>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly path: string,
    private readonly maxLineBytes: number,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static listen(path: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): Promise<ControlServer> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve(new ControlServer(server, path, maxLineBytes));
      });
    });
  }

  /**
   * A fresh one-time token and a promise of the connection that will present it. The wait is bounded by
   * `timeoutMs` from now, or (`deferred`) from `arm()`: a birth whose files take long to prepare (the copy
   * backend copies them all) is timed from the fork, not from the request.
   */
  expect(timeoutMs = 10_000, deferred = false): { token: string; connection: Promise<AgentConnection>; arm: () => void } {
    const token = randomBytes(16).toString('hex');
    let arm = () => {};
    const connection = new Promise<AgentConnection>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, timer: undefined };
      arm = () => {
        if (waiter.timer !== undefined || !this.waiters.has(token)) return;
        waiter.timer = setTimeout(() => {
          this.waiters.delete(token);
          reject(new DriverError(`no agent connected within ${timeoutMs} ms`));
        }, timeoutMs);
      };
      this.waiters.set(token, waiter);
    });
    if (!deferred) arm();
    connection.catch(() => {}); // callers that give up early must not cause an unhandled rejection
    return { token, connection, arm };
  }

  /** Stop waiting for a token (its fork failed). */
  cancel(token: string, reason: Error): void {
    const w = this.waiters.get(token);
    if (!w) return;
    clearTimeout(w.timer);
    this.waiters.delete(token);
    w.reject(reason);
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let conn: AgentConnection | undefined;
    new JsonLineReader(socket, {
      maxLineBytes: this.maxLineBytes,
      onBadLine: () => (conn ? conn.fail('it sent a line that is not a JSON object') : socket.destroy()),
      onOverflow: (err) => conn?.fail(`it sent ${err.message} (${this.maxLineBytes} bytes); the connection was cut`),
      onLine: (msg) => {
        if (conn) {
          conn.dispatch(msg as Message);
          return;
        }
        const waiter = typeof msg.hello === 'string' ? this.waiters.get(msg.hello) : undefined;
        if (!waiter) {
          socket.destroy(); // unknown or reused token
          return;
        }
        this.waiters.delete(msg.hello as string);
        clearTimeout(waiter.timer);
        if (typeof msg.error === 'string') {
          socket.destroy();
          waiter.reject(new DriverError(`a new world process could not start: ${msg.error}`));
          return;
        }
        conn = new AgentConnection(socket, { pid: Number(msg.pid), role: String(msg.role) });
        waiter.resolve(conn);
      },
    });
  }

  async close(): Promise<void> {
    for (const token of [...this.waiters.keys()]) this.cancel(token, new DriverError('runtime closed'));
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
