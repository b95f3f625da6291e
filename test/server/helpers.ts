/**
 * Fixtures for driving a real daemon: spawn `world-runtime serve` as its own process with a temp home, talk
 * to it over the unix socket or TCP, and hold every JSON answer to openapi.json (leftover world processes:
 * test/fixtures/runtime.ts). Every daemon started here is killed by `stopAll()` (call it in an `after` hook).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPENAPI, problems } from '../../src/server/schema.js';
import { waitFor } from '../fixtures/wait.js';

/** dist/src/cli/main.js, from dist/test/server/. */
export const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

export function tempHome(tag = 'wrt'): string {
  return mkdtempSync(join(tmpdir(), `${tag}-`));
}

export interface Spawned {
  home: string;
  proc: ChildProcess;
  pid: number;
  socket: string;
  /** `http://127.0.0.1:PORT` when started with TCP. */
  url: string | null;
  token: string;
  /** Everything the daemon printed so far. */
  output(): string;
  /** Resolves with (code, signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Spawned>();

export interface StartOptions {
  home?: string;
  listen?: string;
  args?: string[];
  env?: Record<string, string>;
}

/** Spawn `node main.js serve --home HOME` and wait for its ready line. */
export async function startDaemon(options: StartOptions = {}): Promise<Spawned> {
  const home = options.home ?? tempHome();
  const args = [MAIN, 'serve', '--home', home, ...(options.listen ? ['--listen', options.listen] : []), ...(options.args ?? [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let out = '';
  proc.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  const spawned: Spawned = {
    home,
    proc,
    pid: proc.pid as number,
    socket: join(home, 'daemon.sock'),
    url: null,
    token: '',
    output: () => out,
    exited,
  };
  running.add(spawned);
  await waitFor(
    () => `the daemon's ready line; it printed:\n${out}`,
    () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`daemon exited at start:\n${out}`);
      return /daemon ready/.test(out);
    },
    30_000,
  );
  spawned.url = /tcp (http:\/\/[^\s,]+)/.exec(out)?.[1] ?? null;
  spawned.token = readFileSync(join(home, 'token'), 'utf8').trim();
  return spawned;
}

/** SIGTERM (or `signal`) and wait for the exit. */
export async function stopDaemon(d: Spawned, signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill(signal);
  const r = await d.exited;
  running.delete(d);
  return r;
}

/** Kill every daemon still running and remove its home. For `after` hooks. */
export async function stopAll(): Promise<void> {
  for (const d of [...running]) {
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([stopDaemon(d), new Promise((r) => (timer = setTimeout(r, 25_000)))]);
    clearTimeout(timer);
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGKILL');
    // A slow shutdown is a bug worth seeing in the test output.
    if (Date.now() - t0 > 5000) process.stderr.write(`daemon ${d.pid} took ${Date.now() - t0} ms to stop:\n${d.output().split('\n').slice(-8).join('\n')}\n`);
  }
}

export function removeHome(home: string): void {
  rmSync(home, { recursive: true, force: true });
}

export interface Target {
  socket?: string;
  url?: string;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Buffer;
  /** Parsed JSON when the answer is JSON (loosely typed: tests read into it freely). */
  // biome-ignore lint/suspicious/noExplicitAny: parsed JSON of many shapes, checked against openapi.json
  json: any;
}

export interface RequestOptions {
  json?: unknown;
  /** Raw body (sent as is). */
  body?: string | Buffer;
  headers?: Record<string, string>;
}

/** One HTTP request over the unix socket or TCP, as curl would make it. */
export function call(target: Target, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
  const body = options.json !== undefined ? Buffer.from(JSON.stringify(options.json)) : options.body !== undefined ? Buffer.from(options.body) : undefined;
  const headers: Record<string, string | number> = { ...options.headers };
  if (body) headers['content-length'] = body.length;
  if (options.json !== undefined) headers['content-type'] ??= 'application/json';
  const where = target.url
    ? (() => {
        const u = new URL(target.url);
        return { host: u.hostname, port: Number(u.port) };
      })()
    : { socketPath: target.socket as string };
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest({ ...where, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        let json: unknown;
        if (String(res.headers['content-type'] ?? '').startsWith('application/json')) json = JSON.parse(text);
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, text, body: buf, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `curl` for the calls docs/api.md shows, exactly as a shell user would type them. */
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked against openapi.json by the caller
export function curl(args: string[]): { status: number; json: any } {
  const out = execFileSync('curl', ['-s', '-w', '\n%{http_code}', ...args], { encoding: 'utf8' });
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)), json: JSON.parse(out.slice(0, i)) };
}

export function hasCurl(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Assert that an answer matches openapi.json for `method template`: the status is one the operation lists
 * (or `default`), and a JSON body fits the schema (required fields, types, enums).
 */
export function conforms(a: { status: number; json?: unknown; text?: string }, method: string, template: string): void {
  const op = OPENAPI.paths[template]?.[method.toLowerCase()];
  assert.ok(op, `openapi.json has no ${method} ${template}`);
  const response = op.responses[String(a.status)] ?? op.responses.default;
  assert.ok(response, `${method} ${template}: status ${a.status} is not in the spec`);
  const schema = response.content?.['application/json']?.schema;
  if (schema && a.json !== undefined) {
    const found = problems(a.json, schema, 'response');
    assert.deepEqual(
      found,
      [],
      `${method} ${template} ${a.status} does not match openapi.json:\n${found.join('\n')}\n${(a.text ?? JSON.stringify(a.json)).slice(0, 500)}`,
    );
  }
}

/** `call` then `conforms` then assert the status. */
export async function expectCall(
  target: Target,
  method: string,
  path: string,
  template: string,
  status: number,
  options: RequestOptions = {},
): Promise<Answer> {
  const a = await call(target, method, path, options);
  assert.equal(a.status, status, `${method} ${path}: expected ${status}, got ${a.status}: ${a.text.slice(0, 400)}`);
  conforms(a, method, template);
  return a;
}

/** Read a server-sent-events answer into (event, data) pairs. */
// biome-ignore lint/suspicious/noExplicitAny: event payloads of several shapes
export function parseSse(text: string): { event: string; data: any }[] {
  return text
    .split('\n\n')
    .filter((block) => block.includes('data:'))
    .map((block) => {
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      return { event, data: JSON.parse(data) };
    });
}
