/**
 * @module
 * Where a client finds the daemon of a state directory: its unix socket and the token file in the home
 * (both sides derive the same paths from the home), and the rule that its TCP listener is loopback only.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultHome } from '../base/config.js';

export interface HomePaths {
  home: string;
  /** The unix socket (mode 0600). */
  socket: string;
  /** The bearer token for TCP (mode 0600). */
  token: string;
  /** The daemon's pid. */
  pid: string;
  /** `{ pid, socket, tcp, version, startedAt }` of the running daemon. */
  info: string;
  /** Output of a daemon the CLI started. */
  log: string;
}

/** The longest unix socket path Linux takes is 107 bytes; keep a margin. */
const MAX_SOCKET_PATH = 100;

/** `--home` if given, else $WORLD_RUNTIME_HOME, else ~/.world-runtime; always absolute. */
export function resolveHome(home?: string): string {
  return home ? resolve(home) : defaultHome();
}

export function homePaths(home: string): HomePaths {
  const abs = resolve(home);
  let socket = join(abs, 'daemon.sock');
  // A deep home cannot hold a socket: both sides derive the same short path from the home instead.
  if (socket.length > MAX_SOCKET_PATH) {
    socket = join(tmpdir(), `world-runtime-${createHash('sha256').update(abs).digest('hex').slice(0, 16)}.sock`);
  }
  return {
    home: abs,
    socket,
    token: join(abs, 'token'),
    pid: join(abs, 'daemon.pid'),
    info: join(abs, 'daemon.json'),
    log: join(abs, 'daemon.log'),
  };
}

/** The token in `path` (`homePaths(home).token`), or null when the file is missing or empty. */
export function readToken(path: string): string | null {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t.length > 0 ? t : null;
  } catch {
    return null;
  }
}

/** True for 127.0.0.0/8 and ::1: the only hosts the daemon listens on, and the only ones a client sends to. */
export function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.split('.')[0] === '127';
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1';
  return false;
}
