/**
 * @module
 * The host end of the agent protocol (agent/PROTOCOL.md): one unix socket per runtime, one connection per
 * agent process, newline-delimited JSON. A connection is matched to whoever asked for it by the one-time
 * token its hello carries, so a forked child can never impersonate another world.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type Server, type Socket, createServer } from 'node:net';
import { DriverError } from '../../core/errors.js';

export interface AgentError {
  code: string;
  message: string;
}

/** A failed request: the agent's own error code and message. */
export class AgentRequestError extends Error {
  override name = 'AgentRequestError';
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

type EventHandler = (event: string, data: string) => void;

interface Pending {
  resolve: (result: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  onEvent?: EventHandler;
}

/** One agent process (keeper, world or snapshot). Emits 'close' when its process goes away. */
export class AgentConnection extends EventEmitter {
  readonly pid: number;
  readonly role: string;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(private readonly socket: Socket, hello: { pid: number; role: string }) {
    super();
    this.pid = hello.pid;
    this.role = hello.role;
    socket.on('close', () => this.onClose());
    socket.on('error', () => {}); // 'close' follows and carries the news
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send one request; resolves with its result, rejects with AgentRequestError or on disconnect. */
  request(op: string, args: Record<string, unknown> = {}, onEvent?: EventHandler): Promise<Record<string, unknown>> {
    if (this.closed) return Promise.reject(new AgentRequestError('GONE', `agent ${this.pid} is gone`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onEvent });
      this.socket.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  /** Deliver one parsed message from the agent. */
  dispatch(msg: { id?: number; ok?: boolean; result?: Record<string, unknown>; error?: AgentError; event?: string; data?: string }): void {
    const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
    if (!p || msg.id === undefined) return;
    if (msg.event !== undefined) {
      p.onEvent?.(msg.event, msg.data ?? '');
      return;
    }
    this.pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.result ?? {});
    else p.reject(new AgentRequestError(msg.error?.code ?? 'AGENT', msg.error?.message ?? 'agent error'));
  }

  close(): void {
    this.socket.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new AgentRequestError('GONE', `agent ${this.pid} disconnected`));
    this.pending.clear();
    this.emit('close');
  }
}

interface Waiter {
  resolve: (conn: AgentConnection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The runtime's listening socket. `expect()` hands out a token and waits for the agent that presents it. */
export class ControlServer {
  private readonly waiters = new Map<string, Waiter>();
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server, readonly path: string) {
    server.on('connection', (socket) => this.accept(socket));
  }

  static listen(path: string): Promise<ControlServer> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve(new ControlServer(server, path));
      });
    });
  }

  /** A fresh one-time token and a promise of the connection that will present it. */
  expect(timeoutMs = 10_000): { token: string; connection: Promise<AgentConnection> } {
    const token = randomBytes(16).toString('hex');
    const connection = new Promise<AgentConnection>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(token);
        reject(new DriverError(`no agent connected within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(token, { resolve, reject, timer });
    });
    connection.catch(() => {}); // callers that give up early must not cause an unhandled rejection
    return { token, connection };
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
    let buffer = '';
    let conn: AgentConnection | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl = buffer.indexOf('\n');
      while (nl >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line);
        } catch {
          socket.destroy();
          return;
        }
        if (conn) {
          conn.dispatch(msg);
          continue;
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
      }
    });
  }

  async close(): Promise<void> {
    for (const token of [...this.waiters.keys()]) this.cancel(token, new DriverError("runtime closed"));
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
