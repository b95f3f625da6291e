/**
 * @module
 * `--listen HOST:PORT` for the TCP listener: loopback addresses only. Running code in a world is remote code
 * execution by design, so the daemon refuses to listen anywhere another machine could reach.
 */
import { isIP } from 'node:net';
import { InvalidArgumentError } from '../base/errors.js';
import { isLoopback } from '../protocol/endpoint.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse `127.0.0.1:8080`, `localhost:8080`, `[::1]:8080` or `:8080` (= 127.0.0.1); refuse anything else. */
export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`--listen: expected HOST:PORT on loopback (e.g. 127.0.0.1:7070), got ${JSON.stringify(value)}`);
  let host = m[1] ?? m[2] ?? '';
  if (host === '' || host === 'localhost') host = '127.0.0.1';
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError(`--listen: port must be 0-65535, got ${m[3]}`);
  if (!isLoopback(host)) {
    throw new InvalidArgumentError(
      `--listen: refusing ${JSON.stringify(host)}: the daemon runs code on request, so it listens on loopback only (127.0.0.1 or ::1)`,
    );
  }
  return { host, port };
}

/** `http://127.0.0.1:7070` / `http://[::1]:7070`. */
export function listenUrl(a: ListenAddress): string {
  return `http://${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.port}`;
}
