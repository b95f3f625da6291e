/**
 * @module
 * `Executor`: runs one `WorldAction` against the daemon's `WorldRuntime`. It knows nothing of HTTP: it
 * returns plain data (src/protocol/results.ts) or throws a `WorldRuntimeError`, and `reply.ts` turns either
 * into a response. One handler per action kind of the table (src/protocol/actions.ts); the mapped type
 * `HandlerSet` makes the set exhaustive.
 */
import {
  CapacityError,
  RecordUnavailableError,
  SnapshotNotFoundError,
  SourceNotFoundError,
  WorldNotFoundError,
  WorldRuntimeError,
  WrongStateError,
} from '../base/errors.js';
import type { Trit } from '../base/types.js';
import { VERSION } from '../base/version.js';
import type { WorldRuntime } from '../core/runtime.js';
import type { Snapshot, World } from '../core/world.js';
import type { ActionKind, ActionOf, ResultOf } from '../protocol/actions.js';
import type { SnapshotInfo, UiLoginReply, WorldInfo } from '../protocol/results.js';
import { execReply, snapshotInfo, worldInfo } from './convert.js';
import { ledgerHandlers } from './execute-ledger.js';
import { verseHandlers } from './execute-verses.js';
import type { ActionIO, HandlerSet } from './handlers.js';
import { type RecordReader, recordOf } from './record.js';

export interface ExecutorOptions {
  /**
   * Most live worlds at once, counting the worlds that creates, branches and push-downs in flight will make;
   * a request that would pass it fails with `CapacityError` (503).
   */
  maxWorlds: number;
  /** Facts about the daemon for health and doctor (`tcpUrl` is set once a TCP listener runs). */
  socketPath: string;
  tcpUrl: string | null;
  /** The web view's login (the daemon's: it starts the TCP listener the view needs). */
  ui?: { login(listen?: string): Promise<UiLoginReply> };
}

/** How many destroyed (or collapsed) ids are remembered, so a late request gets 409 rather than 404. */
const TOMBSTONES = 10_000;

/** Every action kind's handler (verse and ledger handlers live in execute-verses.ts, execute-ledger.ts). */
type Handlers = HandlerSet<ActionKind>;

/**
 * The targets `GET /v1/metrics` shows beside the measured percentiles (create ~250 ms, snapshot < 250 ms,
 * branch < 250 ms), as `world-runtime metrics` does.
 */
const METRIC_TARGETS_MS: Readonly<Record<string, number>> = { create: 250, snapshot: 250, branch: 250 };

/**
 * `POST /v1/sandboxes` carries a verse's trit in `metadata.trit` (`{"metadata": {"verse": "nash", "trit": -1}}`);
 * a valid one becomes the world's own trit.
 */
function tritFromMetadata(metadata: Record<string, unknown> | undefined): Trit | undefined {
  const t = metadata?.trit;
  return t === -1 || t === 0 || t === 1 ? t : undefined;
}

export class Executor {
  private readonly startedAt = Date.now();
  /** id → last JSON of worlds and snapshots destroyed through this daemon (oldest dropped first). */
  private readonly tombstones = new Map<string, { what: 'world' | 'snapshot'; json: WorldInfo | SnapshotInfo }>();
  /** Places under `maxWorlds` held by requests still making their worlds. */
  private reserved = 0;

  constructor(
    readonly rt: WorldRuntime,
    private readonly options: ExecutorOptions,
  ) {}

  /** Run one action. Resolves with its result or rejects with a `WorldRuntimeError`. */
  execute<K extends ActionKind>(action: ActionOf<K>, io: ActionIO = {}): Promise<ResultOf<K>> {
    const handler = this.handlers[action.kind] as unknown as (a: ActionOf<K>, io: ActionIO) => Promise<ResultOf<K>>;
    return handler(action, io);
  }

  private readonly handlers: Handlers = {
    'world.create': async (a) => {
      const w = await this.withCapacity(1, () =>
        this.rt.create({
          ...(a.trit !== undefined && a.trit !== null ? { trit: a.trit } : {}),
          ...(a.memoryMib !== undefined ? { memoryMib: a.memoryMib } : {}),
          ...(a.diskMib !== undefined ? { diskMib: a.diskMib } : {}),
          ...(a.vcpus !== undefined ? { vcpus: a.vcpus } : {}),
          ...(a.metadata !== undefined ? { metadata: a.metadata } : {}),
        }),
      );
      return worldInfo(w);
    },
    'world.list': async () => {
      const worlds = this.rt.worlds();
      const usage = await this.rt.usage(worlds);
      return { worlds: worlds.map((w) => ({ ...worldInfo(w), usage: usage.get(w.id) })) };
    },
    'world.get': async (a) => {
      const tomb = this.tombstones.get(a.id);
      if (tomb?.what === 'world') return tomb.json as WorldInfo;
      const w = this.rt.world(a.id);
      return { ...worldInfo(w), usage: (await this.rt.usage([w])).get(w.id) };
    },
    'world.destroy': async (a) => {
      if (this.tombstones.get(a.id)?.what === 'world') return { id: a.id, state: 'destroyed' };
      const w = this.rt.world(a.id);
      await w.destroy();
      this.bury('world', a.id, { ...worldInfo(w), state: 'destroyed' });
      return { id: a.id, state: 'destroyed' };
    },
    'world.exec': async (a, io) => {
      const w = this.world(a.id, 'exec');
      // World.exec checks the state too, but as an async function it refuses with a rejected promise, seen only
      // after onStarted has committed a streaming reply to 200. Checking first makes a failed (or closing)
      // world answer the same plain 409 (503) to the streaming and the plain call.
      w.check('exec');
      const pending = w.exec(a.code, { ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}), ...(io.onOutput ? { onOutput: io.onOutput } : {}) });
      io.onStarted?.();
      return execReply(await pending);
    },
    'world.run': async (a, io) => {
      const w = this.world(a.id, 'run');
      w.check('run'); // as for exec: refuse before the stream commits
      const pending = w.run(a.command, {
        ...(a.cwd !== undefined ? { cwd: a.cwd } : {}),
        ...(a.env !== undefined ? { env: a.env } : {}),
        ...(a.timeoutMs !== undefined ? { timeoutMs: a.timeoutMs } : {}),
        ...(io.onOutput ? { onOutput: io.onOutput } : {}),
      });
      io.onStarted?.();
      return await pending;
    },
    'world.writeFile': async (a) => {
      await this.world(a.id, 'writeFile').writeFile(a.path, a.data);
      return { path: a.path, bytes: a.data.byteLength };
    },
    'world.readFile': async (a) => this.world(a.id, 'readFile').readFile(a.path),
    'world.snapshot': async (a) => snapshotInfo(await this.world(a.id, 'snapshot').snapshot(a.name)),
    'world.branch': async (a) => {
      const w = this.world(a.id, 'branch');
      return { worlds: (await this.withCapacity(a.count, () => this.rt.branch(w, a.count, branchOptions(a)))).map(worldInfo) };
    },
    'snapshot.list': async () => {
      const snaps = this.rt.snapshots();
      const usage = await this.rt.usage(snaps);
      return { snapshots: snaps.map((s) => ({ ...snapshotInfo(s), usage: usage.get(s.id) })) };
    },
    'snapshot.get': async (a) => {
      const tomb = this.tombstones.get(a.id);
      if (tomb?.what === 'snapshot') return tomb.json as SnapshotInfo;
      const s = this.rt.snapshot(a.id);
      return { ...snapshotInfo(s), usage: (await this.rt.usage([s])).get(s.id) };
    },
    'snapshot.destroy': async (a) => {
      if (this.tombstones.get(a.id)?.what === 'snapshot') return { id: a.id, state: 'destroyed' };
      const s = this.rt.snapshot(a.id);
      await s.destroy();
      this.bury('snapshot', a.id, { ...snapshotInfo(s), state: 'destroyed' });
      return { id: a.id, state: 'destroyed' };
    },
    'snapshot.branch': async (a) => {
      const s = this.snapshot(a.id, 'branch');
      return { worlds: (await this.withCapacity(a.count, () => this.rt.branch(s, a.count, branchOptions(a)))).map(worldInfo) };
    },
    branch: async (a) => {
      const source = this.source(a.source, 'branch');
      return { worlds: (await this.withCapacity(a.count, () => this.rt.branch(source, a.count, branchOptions(a)))).map(worldInfo) };
    },
    'sandbox.create': async (a) => {
      const trit = tritFromMetadata(a.metadata);
      const metadata = a.metadata ? { metadata: a.metadata } : {};
      if (a.snapshotId === undefined) {
        return worldInfo(await this.withCapacity(1, () => this.rt.create({ ...metadata, ...(trit !== undefined ? { trit } : {}) })));
      }
      const s = this.snapshot(a.snapshotId, 'branch');
      const [w] = await this.withCapacity(1, () => this.rt.branch(s, 1, { ...metadata, ...(trit !== undefined ? { trits: [trit] } : {}) }));
      return worldInfo(w as World);
    },
    'sandbox.snapshot': async (a) => {
      const s = snapshotInfo(await this.world(a.id, 'snapshot').snapshot(a.name));
      return { snapshot_id: s.id, ...s };
    },
    'sandbox.execute': async (a) => execReply(await this.world(a.id, 'exec').exec(a.code)),
    ...verseHandlers({
      runtime: () => this.rt,
      world: (id, operation) => this.world(id, operation),
      withCapacity: (adding, make) => this.withCapacity(adding, make),
      bury: (id, json) => this.bury('world', id, json),
    }),
    ...ledgerHandlers(() => {
      this.rt.ensureOpen();
      return this.rt.ledger;
    }),
    'record.entities': async (a) => {
      const filter = { ...(a.state ? { state: a.state } : {}), ...(a.type ? { type: a.type } : {}), ...(a.limit ? { limit: a.limit } : {}) };
      return { entities: await this.record().entities(filter) };
    },
    'record.branches': async (a) => ({ branches: await this.record().branches(a.limit ? { limit: a.limit } : {}) }),
    'record.resolutions': async (a) => ({ resolutions: await this.record().resolutions(a.limit ? { limit: a.limit } : {}) }),
    'record.metrics': async (a) => {
      const rec = this.record();
      const limit = a.limit ?? 20;
      const summary = (await rec.metricSummary()).map((s) => {
        const targetMs = METRIC_TARGETS_MS[s.operation] ?? null;
        return { ...s, targetMs, withinTarget: targetMs === null || s.p99 === null ? null : s.p99 <= targetMs };
      });
      return { summary, rows: limit > 0 ? await rec.metrics({ limit }) : [] };
    },
    'ui.login': async (a) => {
      if (!this.options.ui) throw new WorldRuntimeError('WRONG_STATE', 'this daemon serves no web view');
      return this.options.ui.login(a.listen);
    },
    'system.doctor': async () => ({
      ...(await this.rt.doctor()),
      daemon: {
        pid: process.pid,
        version: VERSION,
        socket: this.options.socketPath,
        tcp: this.options.tcpUrl,
        maxWorlds: this.options.maxWorlds,
        record: recordOf(this.rt) !== null,
      },
    }),
    'system.health': async (_a, io) => ({
      ok: true,
      pid: process.pid,
      home: this.rt.home,
      version: VERSION,
      uptimeMs: Date.now() - this.startedAt,
      worlds: this.rt.worlds().length,
      snapshots: this.rt.snapshots().length,
      record: recordOf(this.rt) !== null,
      transport: io.transport ?? 'unix',
    }),
  };

  /** A live world, or 409 naming `destroyed` (or `collapsed`) for one this daemon destroyed (or collapsed), or 404. */
  private world(id: string, operation: string): World {
    try {
      return this.rt.world(id);
    } catch (err) {
      const tomb = this.tombstones.get(id);
      if (err instanceof WorldNotFoundError && tomb?.what === 'world') {
        throw new WrongStateError('world', id, operation, (tomb.json as WorldInfo).state, ['running']);
      }
      throw err;
    }
  }

  private snapshot(id: string, operation: string): Snapshot {
    try {
      return this.rt.snapshot(id);
    } catch (err) {
      if (err instanceof SnapshotNotFoundError && this.tombstones.get(id)?.what === 'snapshot') {
        throw new WrongStateError('snapshot', id, operation, 'destroyed', ['ready']);
      }
      throw err;
    }
  }

  /**
   * The world or snapshot `id` names, found by looking it up (a world first, then a snapshot; the id's
   * prefix is not read), with the 409 of `world` or `snapshot` for one this daemon destroyed, or a 404
   * naming both.
   */
  private source(id: string, operation: string): World | Snapshot {
    try {
      return this.world(id, operation);
    } catch (err) {
      if (!(err instanceof WorldNotFoundError)) throw err;
    }
    try {
      return this.snapshot(id, operation);
    } catch (err) {
      if (!(err instanceof SnapshotNotFoundError)) throw err;
    }
    throw new SourceNotFoundError(id);
  }

  private bury(what: 'world' | 'snapshot', id: string, json: WorldInfo | SnapshotInfo): void {
    this.tombstones.set(id, { what, json });
    if (this.tombstones.size > TOMBSTONES) {
      const oldest = this.tombstones.keys().next().value;
      if (oldest !== undefined) this.tombstones.delete(oldest);
    }
  }

  /**
   * Run `make` (which makes `adding` worlds) holding `adding` places under `maxWorlds` until it settles, so
   * parallel requests cannot all pass the check before any of their worlds is live. Made worlds are tracked
   * (live) a moment before the places are released, so for that moment they count twice: the limit errs
   * toward refusing, never past it.
   */
  private async withCapacity<T>(adding: number, make: () => Promise<T>): Promise<T> {
    const live = this.rt.worlds().length;
    const max = this.options.maxWorlds;
    if (live + this.reserved + adding > max) {
      const inFlight = this.reserved > 0 ? ` and ${this.reserved} being made` : '';
      throw new CapacityError(
        `at capacity: ${live} live worlds${inFlight}; ${adding} more would pass the daemon's limit of ${max}; destroy some worlds or restart the daemon with --max-worlds`,
      );
    }
    this.reserved += adding;
    try {
      return await make();
    } finally {
      this.reserved -= adding;
    }
  }

  private record(): RecordReader {
    const rec = recordOf(this.rt);
    if (!rec) throw new RecordUnavailableError('this daemon keeps no DuckDB record (its runtime was opened without one)');
    return rec;
  }
}

function branchOptions(a: ActionOf<'world.branch'> | ActionOf<'snapshot.branch'> | ActionOf<'branch'>) {
  return {
    ...(a.trits !== undefined ? { trits: a.trits as Trit[] } : {}),
    ...(a.metadata !== undefined ? { metadata: a.metadata } : {}),
    ...(a.sameRandom !== undefined ? { sameRandom: a.sameRandom } : {}),
  };
}
