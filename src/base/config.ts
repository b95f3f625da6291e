/**
 * @module
 * Every environment variable world-runtime reads, in one table: its name, what it changes and its default.
 * Nothing else in `src/` reads `process.env.WORLD_RUNTIME_*` (a test holds this), and
 * docs/configuration.md lists the same table, so a setting is found in one place.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface EnvironmentVariable {
  /** What setting it changes, in one sentence. */
  readonly meaning: string;
  /** What holds when it is unset. */
  readonly unset: string;
}

export const ENVIRONMENT = {
  WORLD_RUNTIME_HOME: {
    meaning: 'State directory: database, sockets, token, worlds’ files, microvm assets.',
    unset: '~/.world-runtime',
  },
  WORLD_RUNTIME_TOKEN: {
    meaning: 'One more bearer token the daemon accepts on TCP, and the token clients send by default.',
    unset: 'the daemon accepts only <home>/token; clients read <home>/token',
  },
  WORLD_RUNTIME_AUTOSTART: {
    meaning: 'Set to 0 to stop the CLI from starting a daemon when none answers.',
    unset: 'the CLI starts one',
  },
  WORLD_RUNTIME_PYTHON: {
    meaning: 'The python3 (3.9 or later) that runs the process driver’s agent.',
    unset: 'python3 from PATH',
  },
  WORLD_RUNTIME_QEMU: {
    meaning: 'The qemu-system-x86_64 binary of the microvm driver.',
    unset: 'qemu-system-x86_64 from PATH',
  },
  WORLD_RUNTIME_MICROVM_CPU: {
    meaning: 'Guest CPU model of the microvm driver under TCG (under KVM it is always the host’s).',
    unset: 'max',
  },
  WORLD_RUNTIME_MICROVM_RAM_DIR: {
    meaning: 'Directory (on tmpfs) where the microvm driver keeps guest memory files.',
    unset: '/dev/shm',
  },
  WORLD_RUNTIME_MICROVM_KERNEL_PKG: {
    meaning: 'Debian kernel package the microvm driver boots, instead of the one it picks.',
    unset: 'the newest linux-image-*-cloud-amd64 (or -amd64) package',
  },
  WORLD_RUNTIME_MICROVM_KERNEL_DEB: {
    meaning: 'A kernel .deb file already on disk, so the microvm driver need not run apt-get download.',
    unset: 'apt-get download',
  },
  WORLD_RUNTIME_MICROVM_DEBUG: {
    meaning: 'Any non-empty value: the microvm driver traces each step on stderr.',
    unset: 'no trace',
  },
  // The official E2B SDK's own variables, read by the e2b driver (an `e2b` option wins over each).
  E2B_API_KEY: {
    meaning: 'API key of the e2b driver (driver: e2b), sent as X-API-KEY.',
    unset: 'no key: the E2B control plane refuses the calls',
  },
  E2B_DOMAIN: {
    meaning: 'Domain of the E2B service the e2b driver uses: https://api.<domain>, sandboxes under it.',
    unset: 'e2b.app',
  },
  E2B_API_URL: {
    meaning: 'Control-plane URL of the e2b driver (e.g. http://127.0.0.1:7070/e2b for a daemon’s E2B-compatible API).',
    unset: 'https://api.<domain>',
  },
  E2B_SANDBOX_URL: {
    meaning: 'One URL for all sandbox traffic (envd, code interpreter) of the e2b driver.',
    unset: 'a host per sandbox under <domain>',
  },
  MORPH_API_KEY: {
    meaning: 'API key of the morph driver (option morph.apiKey wins); for the daemon’s own /morph routes it is the daemon token.',
    unset: 'the morph driver needs morph.apiKey',
  },
  MORPH_BASE_URL: {
    meaning: 'Morph API the morph driver calls (option morph.baseUrl wins), e.g. http://127.0.0.1:PORT/morph of a daemon.',
    unset: 'https://cloud.morph.so/api',
  },
} as const satisfies Record<string, EnvironmentVariable>;

export type EnvironmentName = keyof typeof ENVIRONMENT;

/** The variable's value, or undefined when it is unset or empty. */
export function env(name: EnvironmentName): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** `WORLD_RUNTIME_HOME` when set, else ~/.world-runtime; always absolute. */
export function defaultHome(): string {
  const home = env('WORLD_RUNTIME_HOME');
  return home ? resolve(home) : join(homedir(), '.world-runtime');
}

/**
 * Whether this process runs in a graphical session (X11's `DISPLAY` or Wayland's `WAYLAND_DISPLAY`): the
 * system's variables, not world-runtime's, read here so that every variable is read in this file.
 * `world-runtime ui` opens its login link in a browser only then (on Linux).
 */
export function graphicalSession(): boolean {
  return Boolean(process.env.DISPLAY || process.env.WAYLAND_DISPLAY);
}
