/**
 * @module
 * Find the daemon, starting one when none answers on the home's unix socket: detached, its output in
 * `<home>/daemon.log`, and wait until it answers. With `--url` the CLI talks to loopback TCP instead (with the
 * bearer token) and never starts anything.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { env } from '../base/config.js';
import { WorldRuntimeError } from '../base/errors.js';
import { DaemonClient } from '../client/client.js';
import { DaemonUnreachableError } from '../client/errors.js';
import { type HomePaths, readToken } from '../protocol/endpoint.js';
import { UsageError } from './command.js';
import { startProgress } from './progress.js';

/** How long a freshly started daemon may take to answer. */
const START_TIMEOUT_MS = 30_000;

export interface ConnectOptions {
  paths: HomePaths;
  url?: string;
  token?: string;
  /** Start a daemon when none answers. @default true unless $WORLD_RUNTIME_AUTOSTART is 0 */
  autoStart?: boolean;
  /** Flags for the `serve` of a daemon started here (e.g. `['--driver', 'e2b']`). @default none */
  serveArgs?: readonly string[];
}

export async function connect(options: ConnectOptions): Promise<DaemonClient> {
  if (options.url) {
    const token = options.token || env('WORLD_RUNTIME_TOKEN') || readToken(options.paths.token) || undefined;
    if (!token) throw new UsageError(`--url needs a bearer token: pass --token, set WORLD_RUNTIME_TOKEN, or keep ${options.paths.token}`);
    const client = new DaemonClient({ url: options.url, token });
    await client.dispatch({ kind: 'system.health' });
    return client;
  }
  const client = new DaemonClient({ socketPath: options.paths.socket });
  try {
    await client.dispatch({ kind: 'system.health' });
    return client;
  } catch (err) {
    if (!(err instanceof DaemonUnreachableError)) throw err;
    const autoStart = options.autoStart ?? env('WORLD_RUNTIME_AUTOSTART') !== '0';
    if (!autoStart) throw err;
  }
  await startDaemon(options.paths, client, options.serveArgs);
  return client;
}

/**
 * Start `world-runtime serve --home HOME` detached, as a child process of this executable started by its
 * path (the daemon's code is never loaded here), and wait until it answers on the socket.
 */
export async function startDaemon(paths: HomePaths, client: DaemonClient, serveArgs: readonly string[] = []): Promise<void> {
  mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  const logFd = openSync(paths.log, 'a', 0o600);
  const logStart = readLog(paths.log).length;
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const child = spawn(process.execPath, [main, 'serve', '--home', paths.home, ...serveArgs], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    cwd: paths.home,
    env: process.env,
  });
  closeSync(logFd);
  child.unref();
  let exited: number | string | null = null;
  child.once('exit', (code, signal) => {
    exited = signal ?? code;
  });
  child.once('error', (err) => {
    exited = err.message;
  });

  const progress = startProgress(`starting the world-runtime daemon (log: ${paths.log})`);
  const t0 = Date.now();
  let exitSeenAt: number | null = null;
  try {
    while (Date.now() - t0 < START_TIMEOUT_MS) {
      try {
        await client.dispatch({ kind: 'system.health' });
        return;
      } catch (err) {
        if (!(err instanceof DaemonUnreachableError)) throw err;
      }
      if (exited !== null) {
        // Another CLI may have started a daemon at the same moment (ours then exits with HOME_LOCKED):
        // give that one a short while to answer before giving up.
        exitSeenAt ??= Date.now();
        if (Date.now() - exitSeenAt > 3000) {
          const tail = readLog(paths.log).slice(logStart).trim().split('\n').slice(-1)[0] ?? '';
          throw new WorldRuntimeError('DRIVER', `the daemon exited at start (${exited})${tail ? `: ${tail}` : ''} — see ${paths.log}`);
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new WorldRuntimeError('TIMEOUT', `the daemon did not answer within ${START_TIMEOUT_MS / 1000} s — see ${paths.log}`);
  } finally {
    progress.stop();
  }
}

function readLog(path: string): string {
  try {
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  } catch {
    return '';
  }
}
