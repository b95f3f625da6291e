/**
 * @module
 * The daemon: owns one `WorldRuntime` (its worlds and its DuckDB record) and serves the HTTP API on a unix
 * socket in the state directory (mode 0600) and, when asked, on loopback TCP with a bearer token.
 *
 * @example
 * ```ts
 * const d = await Daemon.start({ home: '/tmp/wr', listen: '127.0.0.1:0' });
 * console.log(d.socketPath, d.tcpUrl);
 * await d.close();
 * ```
 */
import { chmodSync, mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { env } from '../base/config.js';
import { InvalidArgumentError, WorldRuntimeError } from '../base/errors.js';
import type { OpenOptions } from '../core/options.js';
import { WorldRuntime } from '../core/runtime.js';
import { DEFAULT_MAX_WORLDS, MAX_MAX_WORLDS } from '../base/limits.js';
import { VERSION } from '../base/version.js';
import { type HomePaths, homePaths, resolveHome } from '../protocol/endpoint.js';
import type { UiLoginReply } from '../protocol/results.js';
import { WebView } from '../ui/index.js';
import { DEFAULT_MAX_BODY_BYTES, MAX_MAX_BODY_BYTES, MIN_MAX_BODY_BYTES } from './defaults.js';
import { Executor, type ExecutorOptions } from './execute.js';
import { createHandler, type HandlerOptions } from './http.js';
import { type ListenAddress, listenUrl, parseListen } from './listen.js';
import { claimPidFile, releasePidFile } from './pidfile.js';
import { ensureToken } from './token.js';
import { E2bCompat } from '../compat/e2b/index.js';
import { MorphCompat } from '../compat/morph/index.js';

export interface DaemonOptions {
  /** State directory. @default $WORLD_RUNTIME_HOME, else ~/.world-runtime */
  home?: string;
  /** Also listen on loopback TCP, `127.0.0.1:PORT` (port 0: any free port). */
  listen?: string;
  /** Most live worlds at once, an integer from 1 to 1000000; more answer 503. @default 256 */
  maxWorlds?: number;
  /** Largest request body in bytes, an integer from 1024 (1 KiB) to 1073741824 (1 GiB). @default 8388608 (8 MiB) */
  maxBodyBytes?: number;
  /** Passed to `WorldRuntime.open`. */
  isolation?: OpenOptions['isolation'];
  fs?: OpenOptions['fs'];
  /** How worlds are made. @default 'process' */
  driver?: OpenOptions['driver'];
  /** Keep the DuckDB record. @default true */
  record?: boolean;
  /** One line per request and every warning. @default none */
  log?: (line: string) => void;
}

function intInRange(name: string, value: number | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < min || value > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

function listenOn(server: Server, target: string | ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (typeof target === 'string') server.listen(target, done);
    else server.listen(target.port, target.host, done);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

function writeInfo(paths: HomePaths, tcpUrl: string | null, startedAt: Date): void {
  writeFileSync(
    paths.info,
    `${JSON.stringify({ pid: process.pid, socket: paths.socket, tcp: tcpUrl, version: VERSION, startedAt: startedAt.toISOString() })}\n`,
    { mode: 0o600 },
  );
}

/** What the daemon keeps to start a TCP listener later (for the web view) as it would at start. */
interface Listening {
  handler: HandlerOptions;
  executor: ExecutorOptions;
  view: WebView;
  startedAt: Date;
}

async function startTcp(servers: Server[], at: ListenAddress, handler: HandlerOptions, view: WebView): Promise<string> {
  const server = createServer();
  // Exec may run for minutes: no server-side request or socket timeouts beyond the headers'.
  server.requestTimeout = 0;
  server.timeout = 0;
  try {
    await listenOn(server, at);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES') {
      throw new InvalidArgumentError(`cannot listen on ${at.host}:${at.port}: ${e.code}`);
    }
    throw err;
  }
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  view.listening(at.host, port);
  server.on('request', createHandler(handler, 'tcp'));
  return listenUrl({ host: at.host, port });
}

export class Daemon {
  private closing: Promise<void> | undefined;
  private tcpStarting: Promise<string> | undefined;

  private constructor(
    readonly runtime: WorldRuntime,
    readonly paths: HomePaths,
    private tcp: string | null,
    private readonly servers: Server[],
    private readonly listening: Listening,
    private readonly e2b?: E2bCompat,
    private readonly morph?: MorphCompat,
  ) {}

  /** `http://127.0.0.1:PORT` of the TCP listener, once there is one. */
  get tcpUrl(): string | null {
    return this.tcp;
  }

  /**
   * A one-time login link to the web view, starting the TCP listener (on `listen`, default any free port on
   * 127.0.0.1) when the daemon has none: browsers cannot reach its unix socket.
   */
  async uiLogin(listen?: string): Promise<UiLoginReply> {
    if (this.closing) throw new WorldRuntimeError('RUNTIME_CLOSED', 'the daemon is shutting down');
    if (!this.tcp) {
      this.tcpStarting ??= startTcp(this.servers, parseListen(listen ?? '127.0.0.1:0'), this.listening.handler, this.listening.view).then(
        (url) => {
          this.tcp = url;
          this.listening.executor.tcpUrl = url;
          writeInfo(this.paths, url, this.listening.startedAt);
          return url;
        },
        (err: unknown) => {
          this.tcpStarting = undefined;
          throw err;
        },
      );
      await this.tcpStarting;
    }
    const tcp = this.tcp as string;
    const { code, expiresAt } = this.listening.view.mintCode();
    return { url: `${tcp}/ui/login?code=${code}`, tcp, expiresAt: expiresAt.toISOString() };
  }

  get socketPath(): string {
    return this.paths.socket;
  }

  get home(): string {
    return this.paths.home;
  }

  /** Open the runtime and start listening. Refuses a home another daemon serves. */
  static async start(options: DaemonOptions = {}): Promise<Daemon> {
    const paths = homePaths(resolveHome(options.home));
    const maxWorlds = intInRange('maxWorlds', options.maxWorlds, 1, MAX_MAX_WORLDS) ?? DEFAULT_MAX_WORLDS;
    const maxBodyBytes = intInRange('maxBodyBytes', options.maxBodyBytes, MIN_MAX_BODY_BYTES, MAX_MAX_BODY_BYTES) ?? DEFAULT_MAX_BODY_BYTES;
    const tcp = options.listen ? parseListen(options.listen) : null;
    mkdirSync(paths.home, { recursive: true, mode: 0o700 });

    claimPidFile(paths.pid, paths.home);
    const log = options.log ?? (() => {});
    let runtime: WorldRuntime;
    try {
      runtime = await WorldRuntime.open({
        home: paths.home,
        ...(options.isolation ? { isolation: options.isolation } : {}),
        ...(options.fs ? { fs: options.fs } : {}),
        ...(options.driver ? { driver: options.driver } : {}),
        ...(options.record === false ? { record: false } : {}),
        warn: (m) => log(`warning: ${m}`),
      });
    } catch (err) {
      releasePidFile(paths.pid);
      throw err;
    }
    const servers: Server[] = [];
    let view: WebView | undefined;
    try {
      const token = ensureToken(paths.token);
      const tokens = [token, ...(env('WORLD_RUNTIME_TOKEN') ? [env('WORLD_RUNTIME_TOKEN') as string] : [])];

      // We hold the pid file and the runtime: a socket file left here is stale.
      rmSync(paths.socket, { force: true });
      const unix = createServer();
      servers.push(unix);
      // Created 0600 from the start (umask), not chmod-ed after a window in which anyone could connect.
      const umask = process.umask(0o177);
      try {
        await listenOn(unix, paths.socket);
      } finally {
        process.umask(umask);
      }
      chmodSync(paths.socket, 0o600);

      view = new WebView({ runtime, maxWorlds });
      const webView = view;
      // The executor's login is the daemon's (it may start the TCP listener), and the daemon is made last.
      let daemon: Daemon | undefined;
      const executorOptions: ExecutorOptions = {
        maxWorlds,
        socketPath: paths.socket,
        tcpUrl: null,
        ui: {
          login: (listen) => {
            if (!daemon) throw new WorldRuntimeError('RUNTIME_CLOSED', 'the daemon is still starting');
            return daemon.uiLogin(listen);
          },
        },
      };
      const executor = new Executor(runtime, executorOptions);
      // The E2B-compatible API is served on the TCP listener the daemon starts with (--listen).
      const e2b = tcp ? new E2bCompat({ runtime, tokens, maxWorlds, maxBodyBytes, log }) : undefined;
      const morph = tcp ? new MorphCompat({ runtime, tokens, maxWorlds, maxBodyBytes, log }) : undefined;
      const handlerOptions: HandlerOptions = { executor, tokens, maxBodyBytes, log, ui: webView, e2b, morph };
      unix.on('request', createHandler(handlerOptions, 'unix'));
      // Exec may run for minutes: no server-side request or socket timeouts beyond the headers'.
      unix.requestTimeout = 0;
      unix.timeout = 0;
      const tcpUrl = tcp ? await startTcp(servers, tcp, handlerOptions, webView) : null;
      executorOptions.tcpUrl = tcpUrl;

      const startedAt = new Date();
      writeInfo(paths, tcpUrl, startedAt);
      daemon = new Daemon(runtime, paths, tcpUrl, servers, { handler: handlerOptions, executor: executorOptions, view: webView, startedAt }, e2b, morph);
      return daemon;
    } catch (err) {
      view?.close();
      await Promise.all(servers.map(closeServer));
      rmSync(paths.socket, { force: true });
      await runtime.close();
      releasePidFile(paths.pid);
      throw err;
    }
  }

  /** Stop listening, destroy every world (rows flushed by the runtime), remove the socket and pid files. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      // A TCP listener the web view is starting must be among the servers closed below.
      await this.tcpStarting?.catch(() => undefined);
      this.listening.view.close();
      const stopped = Promise.all(this.servers.map(closeServer));
      try {
        await this.e2b?.close();
        await this.morph?.close();
        await this.runtime.close();
      } finally {
        // Requests still open (a long exec) ended with the runtime; cut what is left.
        for (const s of this.servers) s.closeAllConnections();
        await stopped;
        for (const f of [this.paths.socket, this.paths.info]) {
          try {
            unlinkSync(f);
          } catch {}
        }
        releasePidFile(this.paths.pid);
      }
    })();
    return this.closing;
  }
}
