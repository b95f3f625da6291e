/**
 * @module
 * What a CLI command is (name, usage, options, `run`), the options every command takes, and the context a
 * command runs in (output streams, `--json`, a lazily connected daemon client, and what the executable
 * lends: see `Host`).
 */
import type { ParseArgsConfig } from 'node:util';
import type { DriverName, FsBackend, Isolation } from '../base/types.js';
import type { DaemonClient } from '../client/client.js';
import type { HomePaths } from '../protocol/endpoint.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** A mistake in how the command was called: exit code 2, with a pointer to `--help`. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Options every command accepts. */
export const GLOBAL_OPTIONS: OptionSpec = {
  home: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const GLOBAL_HELP = `Global options:
  --home DIR      state directory (default: $WORLD_RUNTIME_HOME, else ~/.world-runtime)
  --url URL       talk to a daemon on loopback TCP (http://127.0.0.1:PORT) instead of the unix socket
  --token TOKEN   bearer token for --url (default: $WORLD_RUNTIME_TOKEN, else <home>/token)
  --json          machine-readable output on stdout
  -h, --help      this help`;

/** The daemon `world-runtime serve` runs in the foreground, as its options ask for it. */
export interface ServeRequest {
  home: string;
  listen?: string;
  maxWorlds: number;
  isolation?: Isolation;
  fs?: FsBackend;
  driver?: DriverName;
  /** `false`: keep no DuckDB record. */
  record?: false;
}

/**
 * What the executable (main.ts) lends the commands beyond a client of the daemon: running the daemon itself,
 * in this process, for `world-runtime serve`. The commands never import the daemon's code; main.ts, which
 * hosts both, loads it for that one command.
 */
export interface Host {
  /** Serve until a signal stops the daemon; resolve with the exit code. */
  serve(request: ServeRequest): Promise<number>;
}

export interface Context {
  paths: HomePaths;
  host: Host;
  json: boolean;
  /** The connected daemon (started if none answers on the unix socket). */
  client(options?: { serveArgs?: readonly string[] }): Promise<DaemonClient>;
  out(text: string): void;
  err(text: string): void;
  /** Write raw text (streamed output) without a newline. */
  write(stream: 'stdout' | 'stderr', text: string): void;
}

export interface Command {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** `world-runtime NAME ...` line(s). */
  usage: string;
  /** Command-specific options (merged with GLOBAL_OPTIONS). */
  options?: OptionSpec;
  /** Option lines and notes for `--help`. */
  help?: string;
  /** Resolve with the exit code. */
  run(ctx: Context, values: Values, positionals: string[]): Promise<number>;
}

/** An integer option within [min, max], or the fallback when absent. */
export function intOption(values: Values, name: string, min: number, max: number, fallback?: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^-?\d+$/.test(raw.trim()) || n < min || n > max) {
    throw new UsageError(`--${name}: expected an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** -1, 0 or 1 (also written +1). */
export function parseTrit(name: string, raw: string): -1 | 0 | 1 {
  const t = raw.trim() === '+1' ? 1 : Number(raw.trim());
  if (t !== -1 && t !== 0 && t !== 1) throw new UsageError(`${name}: expected -1, 0 or 1, got ${JSON.stringify(raw)} (write --trit=-1 for a negative value)`);
  return t;
}

/** `key=value` pairs into an object; a value that parses as JSON is taken as JSON, else as a string. */
export function parseMeta(pairs: string[] | undefined): Record<string, unknown> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new UsageError(`--meta: expected key=value, got ${JSON.stringify(pair)}`);
    const value = pair.slice(i + 1);
    try {
      out[pair.slice(0, i)] = JSON.parse(value);
    } catch {
      out[pair.slice(0, i)] = value;
    }
  }
  return out;
}

/** Exactly `n` positionals named in `names`, else a usage error. */
export function need(positionals: string[], names: string[], atMost = names.length): string[] {
  if (positionals.length < names.length)
    throw new UsageError(
      `missing ${names
        .slice(positionals.length)
        .map((n) => `<${n}>`)
        .join(' ')}`,
    );
  if (positionals.length > atMost) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[atMost])}`);
  return positionals;
}
