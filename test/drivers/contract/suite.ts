/**
 * The driver contract (src/drivers/driver.ts), written once and run against every driver through the
 * `Driver` interface itself, not the WorldRuntime facade (which hides much of it behind its own state
 * checks). Each driver's test file in this folder is a few lines: how to open it, how one of its worlds dies
 * on its own, and, for a check it cannot pass on purpose, the reason (the check is then skipped with it).
 * A driver whose backend is missing on this machine skips the whole suite, saying what is missing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ErrorCode, WorldRuntimeError } from '../../../src/base/errors.js';
import type { Driver, SnapshotHandle, WorldHandle } from '../../../src/drivers/driver.js';
import { waitFor } from '../../fixtures/wait.js';

/** One opened driver, and what of it is still running (after close: must be nothing). */
export interface Opened {
  driver: Driver;
  /** Processes of this driver still alive, one line each (called before and after close). */
  running(): Promise<string[]>;
  /** Remove what opening made (a temp home), after close. */
  dispose?(): void;
}

export const CHECKS = [
  'exec keeps state',
  'run',
  'files',
  'snapshot and branch',
  'branch from a running world',
  'unknown handles',
  'destroy is idempotent',
  'exit listeners add up',
  'exec timeout',
  'after close',
  'doctor',
] as const;
export type Check = (typeof CHECKS)[number];

export interface ContractTarget {
  name: string;
  /** Why this driver cannot run here (what is missing), or false. */
  missing: string | false;
  open(): Promise<Opened>;
  memoryMib: number;
  /** Python for `exec` that makes the world die on its own, as a crash would. */
  dieFromInside: string;
  /** Python for `exec` that ignores the driver's interrupt at a timeout, so the world has to be killed. */
  stubborn: string;
  /** Checks this driver cannot pass by design, each with the reason, shown as the skip message. */
  cannot?: Partial<Record<Check, string>>;
  /** A budget per check, for drivers whose worlds start slowly. @default 60000 */
  timeoutMs?: number;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * `call()` must reject (not throw synchronously, not resolve) with a WorldRuntimeError of `code`, or one of
 * `codes` when the contract allows either.
 */
export async function rejectsWith(call: () => Promise<unknown>, codes: ErrorCode | ErrorCode[], what: string): Promise<void> {
  const allowed = Array.isArray(codes) ? codes : [codes];
  let pending: Promise<unknown>;
  try {
    pending = call();
  } catch (err) {
    assert.fail(`${what}: threw synchronously instead of rejecting: ${String(err)}`);
  }
  const outcome = await pending.then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  assert.ok('err' in outcome, `${what}: resolved (${JSON.stringify((outcome as { value: unknown }).value)?.slice(0, 200)}) instead of rejecting with ${allowed.join(' or ')}`);
  const err = outcome.err;
  assert.ok(WorldRuntimeError.is(err), `${what}: rejected with a ${(err as Error)?.name}, not a WorldRuntimeError: ${String(err)}`);
  assert.ok(allowed.includes(err.code), `${what}: rejected with ${err.code} (${err.message}), expected ${allowed.join(' or ')}`);
}

/**
 * Checks made one after another, every failure kept: a check of many calls (each unknown handle, each call
 * after close) then reports all that are wrong at once, not only the first.
 */
class Findings {
  readonly problems: string[] = [];
  async rejects(call: () => Promise<unknown>, codes: ErrorCode | ErrorCode[], what: string): Promise<void> {
    await rejectsWith(call, codes, what).catch((err: Error) => this.problems.push(err.message));
  }
  async resolves(call: () => Promise<unknown>, what: string): Promise<void> {
    try {
      await call();
    } catch (err) {
      this.problems.push(`${what}: rejected with ${WorldRuntimeError.is(err) ? err.code : (err as Error)?.name} (${(err as Error)?.message}), expected to resolve`);
    }
  }
  done(): void {
    assert.deepEqual(this.problems, [], `${this.problems.length} broken:\n${this.problems.join('\n')}`);
  }
}

export function driverContract(t: ContractTarget): void {
  const timeout = t.timeoutMs ?? 60_000;
  describe(`driver contract: ${t.name}`, { skip: t.missing || false }, () => {
    let opened: Opened;
    let d: Driver;
    let seq = 0;
    const id = (p: string) => `${p}-${++seq}`;
    const exits: [string, string][] = [];
    const create = () => d.create({ id: id('w'), memoryMib: t.memoryMib, vcpus: 1 });
    const branch = (source: WorldHandle | SnapshotHandle, n: number) =>
      d.branch(source, { ids: Array.from({ length: n }, () => id('b')), memoryMib: t.memoryMib, sameRandom: false });
    const check = (name: Check, fn: () => Promise<void>) => test(name, { skip: t.cannot?.[name] ?? false, timeout }, fn);

    before(async () => {
      opened = await t.open();
      d = opened.driver;
      d.onWorldExit((worldId, reason) => exits.push([worldId, reason]));
    });
    after(async () => {
      await d?.close();
      opened?.dispose?.();
    });

    check('exec keeps state', async () => {
      const w = await create();
      const a = await d.exec(w, 'x = 20\nprint("hi")\nx * 2', {});
      assert.equal(a.stdout, 'hi\n');
      assert.equal(a.value, '40');
      assert.equal(a.error, undefined);
      assert.equal((await d.exec(w, 'x += 1\nx', {})).value, '21', 'globals persist from one exec to the next');
      const failed = await d.exec(w, 'import sys\nsys.stderr.write("oops\\n")\n1/0', {});
      assert.equal(failed.error?.type, 'ZeroDivisionError', 'an error in the code is a result, not a rejection');
      assert.equal(failed.stderr, 'oops\n');
      assert.equal((await d.exec(w, 'x', {})).value, '21', 'and leaves the world as it was');
      await d.destroyWorld(w);
    });

    check('run', async () => {
      const w = await create();
      const r = await d.run(w, 'echo out; echo err >&2; exit 3', {});
      assert.deepEqual([r.stdout, r.stderr, r.exitCode, r.timedOut], ['out\n', 'err\n', 3, false]);
      await d.run(w, 'mkdir -p sub', {});
      const argv = await d.run(w, ['sh', '-c', 'echo "$FOO"; pwd'], { cwd: 'sub', env: { FOO: 'bar' } });
      assert.equal(argv.stdout, 'bar\n/world/sub\n', 'env, and cwd relative to the world directory');
      const slow = await d.run(w, 'sleep 30', { timeoutMs: 500 });
      assert.equal(slow.timedOut, true, 'a run past its timeout resolves with timedOut');
      assert.notEqual(slow.exitCode, 0);
      assert.equal((await d.run(w, 'echo alive', {})).stdout, 'alive\n', 'the world lives on after a timed-out run');
      await d.destroyWorld(w);
    });

    check('files', async () => {
      const w = await create();
      const all = Uint8Array.from({ length: 256 * 4 }, (_, i) => i % 256);
      await d.writeFile(w, 'dir/deep/all.bin', all);
      assert.deepEqual(await d.readFile(w, 'dir/deep/all.bin'), all, 'every byte value comes back as written');
      assert.deepEqual(await d.readFile(w, '/world/dir/deep/all.bin'), all, 'the same file by its absolute path');
      assert.equal((await d.exec(w, 'len(open("dir/deep/all.bin", "rb").read())', {})).value, '1024', 'the world sees what was written');
      await d.run(w, 'printf "from the world" > made.txt', {});
      assert.equal(text(await d.readFile(w, 'made.txt')), 'from the world');
      await d.writeFile(w, 'empty', new Uint8Array());
      assert.equal((await d.readFile(w, 'empty')).length, 0);
      await rejectsWith(() => d.readFile(w, 'missing.txt'), 'FILE_NOT_FOUND', 'readFile of a missing file');
      await d.destroyWorld(w);
    });

    check('snapshot and branch', async () => {
      const w = await create();
      await d.exec(w, 'state = ["base"]', {});
      await d.writeFile(w, 'note.txt', bytes('base'));
      const s = await d.snapshot(w, id('s'));
      await d.exec(w, 'state.append("source after")', {}); // the source runs on; its snapshot does not change
      await d.writeFile(w, 'note.txt', bytes('source after'));
      const kids = await branch(s, 3);
      assert.equal(kids.length, 3);
      assert.equal(new Set(kids.map((k) => k.id)).size, 3, 'each branch is its own world');
      for (const k of kids) {
        assert.equal((await d.exec(k, 'state', {})).value, "['base']", "each branch starts with the snapshot's memory");
        assert.equal(text(await d.readFile(k, 'note.txt')), 'base', "and the snapshot's files");
      }
      const [one, two, three] = kids as [WorldHandle, WorldHandle, WorldHandle];
      await d.exec(one, 'state.append("one")', {});
      await d.writeFile(one, 'note.txt', bytes('one'));
      await d.run(two, 'printf two > note.txt; touch only-two', {});
      assert.equal((await d.exec(one, 'state', {})).value, "['base', 'one']");
      assert.equal((await d.exec(two, 'state', {})).value, "['base']", 'branches do not share memory');
      assert.equal(text(await d.readFile(two, 'note.txt')), 'two');
      assert.equal(text(await d.readFile(three, 'note.txt')), 'base', 'nor files');
      assert.equal((await d.run(one, 'test -e only-two', {})).exitCode, 1);
      assert.equal((await d.exec(w, 'state', {})).value, "['base', 'source after']", 'nor with their source');
      // A later branch still starts from the snapshot, whatever its earlier branches did.
      const [late] = await branch(s, 1);
      assert.equal((await d.exec(late as WorldHandle, 'state', {})).value, "['base']");
      await Promise.all([...kids, late as WorldHandle, w].map((x) => d.destroyWorld(x)));
      await d.destroySnapshot(s);
    });

    check('branch from a running world', async () => {
      const w = await create();
      await d.exec(w, 'state = ["live"]', {});
      await d.writeFile(w, 'note.txt', bytes('live'));
      const [a, b] = (await branch(w, 2)) as [WorldHandle, WorldHandle];
      assert.equal((await d.exec(a, 'state', {})).value, "['live']", "a branch of a running world has its memory as it is now");
      assert.equal(text(await d.readFile(b, 'note.txt')), 'live', 'and its files');
      await d.exec(a, 'state.append("a")', {});
      await d.exec(w, 'state.append("w")', {});
      assert.equal((await d.exec(b, 'state', {})).value, "['live']", 'independent of each other and of the source after');
      assert.equal((await d.exec(w, 'state', {})).value, "['live', 'w']", 'the source runs on');
      await Promise.all([a, b, w].map((x) => d.destroyWorld(x)));
    });

    check('unknown handles', async () => {
      const f = new Findings();
      const never: WorldHandle = { id: 'never-made' };
      await f.rejects(() => d.exec(never, '1', {}), 'WORLD_NOT_FOUND', 'exec in a world never made');
      await f.rejects(() => d.run(never, 'true', {}), 'WORLD_NOT_FOUND', 'run in a world never made');
      await f.rejects(() => d.writeFile(never, 'f', bytes('x')), 'WORLD_NOT_FOUND', 'writeFile to a world never made');
      await f.rejects(() => d.readFile(never, 'f'), 'WORLD_NOT_FOUND', 'readFile from a world never made');
      await f.rejects(() => d.snapshot(never, id('s')), 'WORLD_NOT_FOUND', 'snapshot of a world never made');
      await f.rejects(() => branch(never, 1), ['SNAPSHOT_NOT_FOUND', 'WORLD_NOT_FOUND'], 'branch of a source never made');
      const w = await create();
      const s = await d.snapshot(w, id('s'));
      await d.destroySnapshot(s);
      await f.rejects(() => branch(s, 1), 'SNAPSHOT_NOT_FOUND', 'branch of a destroyed snapshot');
      await d.destroyWorld(w);
      await f.rejects(() => d.exec(w, '1', {}), 'WORLD_NOT_FOUND', 'exec in a destroyed world');
      await f.rejects(() => d.readFile(w, 'f'), 'WORLD_NOT_FOUND', 'readFile from a destroyed world');
      await f.rejects(() => d.snapshot(w, id('s')), 'WORLD_NOT_FOUND', 'snapshot of a destroyed world');
      await f.rejects(() => branch(w, 1), 'WORLD_NOT_FOUND', 'branch of a destroyed world');
      f.done();
    });

    check('destroy is idempotent', async () => {
      const f = new Findings();
      const w = await create();
      const s = await d.snapshot(w, id('s'));
      await d.destroySnapshot(s);
      await f.resolves(() => d.destroySnapshot(s), 'destroySnapshot a second time');
      await d.destroyWorld(w);
      await f.resolves(() => d.destroyWorld(w), 'destroyWorld a second time');
      await f.resolves(() => d.destroyWorld({ id: 'never-made' }), 'destroyWorld of a world never made');
      await f.resolves(() => d.destroySnapshot({ id: 'never-made' }), 'destroySnapshot of a snapshot never made');
      f.done();
      assert.deepEqual(
        exits.filter(([x]) => x === w.id || x === s.id),
        [],
        'a destroy is asked for: no exit listener hears it',
      );
    });

    check('exit listeners add up', async () => {
      const heard: Record<'first' | 'second', [string, string][]> = { first: [], second: [] };
      d.onWorldExit((x, reason) => heard.first.push([x, reason]));
      d.onWorldExit((x, reason) => heard.second.push([x, reason]));
      const w = await create();
      const other = await create();
      await rejectsWith(() => d.exec(w, t.dieFromInside, { timeoutMs: 30_000 }), 'WORLD_FAILED', 'an exec whose world dies under it');
      await waitFor('both listeners to hear the world die', () => heard.first.length > 0 && heard.second.length > 0);
      for (const [name, got] of Object.entries(heard)) {
        assert.deepEqual(
          got.map(([x]) => x),
          [w.id],
          `the ${name} listener hears that world's exit, once, and no other`,
        );
        assert.ok((got[0]?.[1] ?? '').length > 0, 'with a reason');
      }
      await rejectsWith(() => d.exec(w, '1', {}), 'WORLD_FAILED', 'exec in a world that died');
      assert.equal((await d.exec(other, '1 + 1', {})).value, '2', 'other worlds are untouched');
      await d.destroyWorld(w); // a failed world is destroyed as any other
      await rejectsWith(() => d.exec(w, '1', {}), 'WORLD_NOT_FOUND', 'exec in a failed world once destroyed');
      await d.destroyWorld(other);
      assert.equal(heard.first.length, 1, 'the destroys were asked for: not heard');
    });

    check('exec timeout', async () => {
      const w = await create();
      await d.exec(w, 'n = 0', {});
      const r = await d.exec(w, 'while True:\n    n += 1', { timeoutMs: 700 });
      assert.equal(r.error?.type, 'TimeoutError', `an exec past its timeout resolves with a TimeoutError: ${JSON.stringify(r.error)}`);
      assert.equal((await d.exec(w, 'n > 0', {})).value, 'True', 'and the world lives on, with its state');
      const stuck = await create();
      await rejectsWith(() => d.exec(stuck, t.stubborn, { timeoutMs: 500 }), 'WORLD_FAILED', 'an exec that will not stop');
      await waitFor('the exit listener to hear the killed world', () => exits.some(([x]) => x === stuck.id));
      await rejectsWith(() => d.exec(stuck, '1', {}), 'WORLD_FAILED', 'exec in the killed world');
      assert.equal((await d.exec(w, 'n > 0', {})).value, 'True', 'other worlds are untouched');
      await d.destroyWorld(stuck);
      await d.destroyWorld(w);
    });

    check('after close', async () => {
      // A driver of its own: this one is closed here.
      const mine = await t.open();
      const c = mine.driver;
      try {
        const w = await c.create({ id: 'closing-w', memoryMib: t.memoryMib, vcpus: 1 });
        const s = await c.snapshot(w, 'closing-s');
        const [b] = await c.branch(s, { ids: ['closing-b'], memoryMib: t.memoryMib, sameRandom: false });
        assert.ok((await mine.running()).length > 0, 'the driver runs its worlds as processes this check can see');
        await c.close();
        let left: string[] = [];
        await waitFor(
          () => `nothing of the driver to be left running: ${left.join('; ')}`,
          async () => {
            left = await mine.running();
            return left.length === 0;
          },
        );
        const calls: [string, () => Promise<unknown>][] = [
          ['create', () => c.create({ id: 'late', memoryMib: t.memoryMib, vcpus: 1 })],
          ['exec', () => c.exec(w, '1', {})],
          ['run', () => c.run(w, 'true', {})],
          ['writeFile', () => c.writeFile(w, 'f', bytes('x'))],
          ['readFile', () => c.readFile(w, 'f')],
          ['snapshot', () => c.snapshot(w, 'late-s')],
          ['branch', () => c.branch(s, { ids: ['late-b'], memoryMib: t.memoryMib, sameRandom: false })],
          ['doctor', () => c.doctor()],
        ];
        const f = new Findings();
        for (const [name, call] of calls) await f.rejects(call, 'RUNTIME_CLOSED', `${name} after close()`);
        // Everything is gone already: destroy and close resolve.
        await f.resolves(() => c.destroyWorld(b as WorldHandle), 'destroyWorld after close()');
        await f.resolves(() => c.destroySnapshot(s), 'destroySnapshot after close()');
        await f.resolves(() => c.close(), 'close() a second time');
        f.done();
      } finally {
        await c.close().catch(() => {});
        mine.dispose?.();
      }
    });

    check('doctor', async () => {
      const r = await d.doctor();
      assert.equal(r.driver, d.name);
      assert.equal(r.available, true);
      assert.ok(Array.isArray(r.notes) && r.notes.length > 0 && r.notes.every((n) => typeof n === 'string'), 'doctor says what it uses, one line each');
    });
  });
}
