/**
 * @module
 * `World` and `Snapshot`: the objects a caller holds. Each checks its lifecycle state before every
 * operation, so a destroyed or failed world gives a `WrongStateError` naming both states, never a hang.
 */
import type { Driver, SnapshotHandle, WorldHandle } from '../drivers/driver.js';
import { InvalidArgumentError, WrongStateError } from '../base/errors.js';
import { checkSnapshotName, checkTimeoutMs } from './options.js';
import type { ExecOptions, ExecResult, RunOptions, RunResult, SnapshotJSON, SnapshotState, Trit, WorldJSON, WorldState } from '../base/types.js';

/** A world's limits, inherited by every world branched from it. */
export interface WorldSize {
  memoryMib: number;
  vcpus: number;
  diskMib: number;
}

/** What a World needs from the runtime that made it. */
export interface WorldHost {
  readonly driver: Driver;
  ensureOpen(): void;
  snapshotWorld(world: World, name?: string): Promise<Snapshot>;
  destroyWorld(world: World): Promise<void>;
  destroySnapshot(snapshot: Snapshot): Promise<void>;
  /** Told of every exec that answered (for the runtime's change feed). */
  executed?(world: World, code: string, result: ExecResult): void;
}

/** One isolated running environment. */
export class World {
  state: WorldState = 'running';
  /** Why the world failed, when it did. */
  failure?: string;

  /** @internal made by WorldRuntime */
  constructor(
    readonly handle: WorldHandle,
    private readonly host: WorldHost,
    readonly parentId: string | null,
    readonly snapshotId: string | null,
    readonly trit: Trit | null,
    readonly metadata: Record<string, unknown>,
    /** Its limits: memory and disk in MiB, virtual CPUs. Branches inherit them. */
    readonly size: WorldSize,
    /** Time from the request until the world first answered. */
    readonly bootTimeMs: number,
    readonly createdAt: Date = new Date(),
  ) {}

  get id(): string {
    return this.handle.id;
  }

  get memoryMib(): number {
    return this.size.memoryMib;
  }

  get vcpus(): number {
    return this.size.vcpus;
  }

  get diskMib(): number {
    return this.size.diskMib;
  }

  /**
   * Run Python code in the world's persistent interpreter (variables and imports stay, like a notebook
   * kernel). Exceptions and syntax errors come back in `error`; the world lives on.
   *
   * @example
   * ```ts
   * await w.exec('x = 41');
   * (await w.exec('x + 1')).value; // '42'
   * ```
   */
  async exec(code: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.check('exec');
    if (typeof code !== 'string') throw new InvalidArgumentError(`exec: code must be a string, got ${typeof code}`);
    checkTimeoutMs(opts.timeoutMs);
    const result = await this.host.driver.exec(this.handle, code, opts);
    this.host.executed?.(this, code, result);
    return result;
  }

  /** Run a command (argv array, or a string for /bin/sh -c) in the world's directory. */
  async run(command: string | string[], opts: RunOptions = {}): Promise<RunResult> {
    this.check('run');
    if (typeof command !== 'string' && !(Array.isArray(command) && command.every((a) => typeof a === 'string'))) {
      throw new InvalidArgumentError('run: command must be a string or an array of strings');
    }
    checkTimeoutMs(opts.timeoutMs);
    return this.host.driver.run(this.handle, command, opts);
  }

  /** Write a file inside the world's own directory (paths that escape it are refused). */
  async writeFile(path: string, data: string | Uint8Array): Promise<void> {
    this.check('writeFile');
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    return this.host.driver.writeFile(this.handle, path, bytes);
  }

  async readFile(path: string): Promise<Uint8Array> {
    this.check('readFile');
    return this.host.driver.readFile(this.handle, path);
  }

  /** Freeze this world's memory and files as they are now (`name`: at most 200 characters). The world keeps running. */
  async snapshot(name?: string): Promise<Snapshot> {
    this.check('snapshot');
    return this.host.snapshotWorld(this, checkSnapshotName(name));
  }

  /** Kill the world and delete its files. Destroying twice is harmless. */
  async destroy(): Promise<void> {
    if (this.state === 'destroyed' || this.state === 'collapsed') return;
    await this.host.destroyWorld(this);
  }

  toJSON(): WorldJSON {
    return {
      id: this.id,
      parentId: this.parentId,
      snapshotId: this.snapshotId,
      state: this.state,
      trit: this.trit,
      metadata: this.metadata,
      memoryMib: this.memoryMib,
      diskMib: this.diskMib,
      vcpus: this.vcpus,
      bootTimeMs: this.bootTimeMs,
      createdAt: this.createdAt.toISOString(),
      ...(this.failure ? { failure: this.failure } : {}),
    };
  }

  /**
   * Throw unless the runtime is open and the world running: what every operation checks first.
   * @internal also used by the daemon, to refuse a streaming exec or run before its answer commits to 200.
   */
  check(operation: string): void {
    this.host.ensureOpen();
    if (this.state !== 'running') throw new WrongStateError('world', this.id, operation, this.state, ['running'], this.failure);
  }
}

/** Immutable frozen state of a world; any number of worlds can be branched from it. */
export class Snapshot {
  state: SnapshotState = 'ready';

  /** @internal made by WorldRuntime */
  constructor(
    readonly handle: SnapshotHandle,
    private readonly host: WorldHost,
    readonly worldId: string,
    readonly name: string | null,
    readonly snapshotTimeMs: number,
    /** The size of the world it froze: every world branched from it gets the same. */
    readonly size: WorldSize,
    readonly createdAt: Date = new Date(),
  ) {}

  get id(): string {
    return this.handle.id;
  }

  get memoryMib(): number {
    return this.size.memoryMib;
  }

  get vcpus(): number {
    return this.size.vcpus;
  }

  get diskMib(): number {
    return this.size.diskMib;
  }

  async destroy(): Promise<void> {
    if (this.state !== 'ready') return;
    await this.host.destroySnapshot(this);
  }

  toJSON(): SnapshotJSON {
    return {
      id: this.id,
      worldId: this.worldId,
      name: this.name,
      state: this.state,
      snapshotTimeMs: this.snapshotTimeMs,
      createdAt: this.createdAt.toISOString(),
    };
  }

  /**
   * Throw unless the runtime is open and the world running: what every operation checks first.
   * @internal also used by the daemon, to refuse a streaming exec or run before its answer commits to 200.
   */
  check(operation: string): void {
    this.host.ensureOpen();
    if (this.state !== 'ready') throw new WrongStateError('snapshot', this.id, operation, this.state, ['ready']);
  }
}
