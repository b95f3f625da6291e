/**
 * Resource attacks from a world with small limits: memory through many processes, /dev/shm and memfds;
 * disk through /tmp and its files. Guaranteed (docs/security.md): each fails inside that world (MemoryError,
 * ENOSPC/EDQUOT, or the OOM killer within its own tree), the memory its tree holds never passes its limit,
 * and other worlds are untouched.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { type RunResult, type World, WorldFailedError, type WorldRuntime } from '../../src/index.js';
import { processesIn, worldTag } from '../fixtures/runtime.js';
import { noWorldIsolation, py, withWorlds } from './helpers.js';

const skip = noWorldIsolation;

/** The v1 memory cgroup of a world's tree, from one of its processes. */
function memoryGroup(pid: number): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /:memory:/.test(l));
  if (!line) throw new Error('no memory cgroup');
  return `/sys/fs/cgroup/memory${line.split(':')[2]}`;
}

const read = (path: string) => Number(readFileSync(path, 'utf8'));

/** The keeper of the fork tree a world's process `pid` lives in: the oldest ancestor running keeper.py under
 * Python (a world is forked from it, so it shows the same argv; the keeper's parent is `unshare`). */
function keeperOf(pid: number): number {
  const parent = (p: number) => Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
  const isKeeper = (p: number) => {
    const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
    return /python/.test(argv[0] ?? '') && argv.some((a) => a.endsWith('keeper.py'));
  };
  let keeper = 0;
  for (let p = parent(pid); p > 1; p = parent(p)) if (isKeeper(p)) keeper = p;
  if (!keeper) throw new Error(`no keeper above ${pid}`);
  return keeper;
}

/**
 * One memory attack in a fresh 64 MiB world. The guarantee allows two endings: the attack fails inside the
 * world (its command exits non-zero with the kernel's words), or the OOM killer of the world's own tree ends
 * the world, which is then failed with that reason. Either way its tree never held more than its limit.
 */
async function attack(rt: WorldRuntime, other: World, command: string | string[], fails: { stderr?: RegExp } | 'either way'): Promise<void> {
  const hog = await rt.create({ memoryMib: 64, diskMib: 64 });
  const group = memoryGroup(processesIn(await worldTag(hog))[0] as number);
  const limit = read(`${group}/memory.limit_in_bytes`);
  assert.ok(limit <= 256 * 2 ** 20, `the tree's limit is ${limit}`);
  const outcome = await hog.run(command).then(
    (r) => r,
    (e: unknown) => e,
  );
  if (outcome instanceof WorldFailedError) {
    assert.match(outcome.message, /out-of-memory/, 'the world failed, but not by its own memory limit');
    assert.equal(hog.state, 'failed');
  } else if (outcome instanceof Error) {
    throw outcome;
  } else if (fails !== 'either way') {
    const r = outcome as RunResult;
    assert.notEqual(r.exitCode, 0, `${JSON.stringify(command)} succeeded`);
    if (fails.stderr) assert.match(r.stderr, fails.stderr);
  }
  assert.ok(read(`${group}/memory.max_usage_in_bytes`) <= limit, 'the tree went past its memory limit');
  assert.equal((await other.exec('kept')).value, '1', 'another world was touched');
  if (hog.state === 'failed') assert.match(hog.failure ?? '', /out-of-memory/);
  await hog.destroy();
}

test('memory taken through processes, /dev/shm and memfds stays within the tree\u2019s limit', { skip }, () =>
  withWorlds(async (rt) => {
    const other = await rt.create();
    await other.exec('kept = 1');
    // /dev/shm is a tmpfs the size of memoryMib.
    await attack(rt, other, ['python3', '-c', 'open("/dev/shm/big", "wb").write(b"x" * (1 << 30))'], { stderr: /No space left|MemoryError|Cannot allocate/ });
    // A memfd the size of the host's patience, in a command.
    await attack(rt, other, ['python3', '-c', 'import os\nfd = os.memfd_create("x")\nfor _ in range(1024):\n    os.write(fd, b"x" * (1 << 20))'], {});
    // Eight processes of 60 MB each, in the background: some are killed, whichever the kernel picks.
    await attack(rt, other, 'for i in 1 2 3 4 5 6 7 8; do python3 -c "x = bytearray(60 << 20); import time; time.sleep(30)" & done; sleep 3', 'either way');
  }),
);

test('disk taken through /tmp and the world\u2019s files stops at diskMib', { skip }, async (t) =>
  withWorlds(async (rt) => {
    if (!(await rt.doctor()).drivers[0]?.diskLimit) return t.skip('no disk quotas here (needs btrfs with simple quotas, as root)');
    const w = await rt.create({ diskMib: 64 });
    const other = await rt.create({ diskMib: 64 });
    for (const path of ['/tmp/big', '/world/big']) {
      const r = await py<{ written: number; error: string }>(
        w,
        `import errno, os
_result = {'written': 0, 'error': None}
try:
    with open('${path}', 'wb') as f:
        for _ in range(1024):
            f.write(b'x' * (1 << 20)); f.flush(); os.fsync(f.fileno())
            _result['written'] += 1
except OSError as e:
    _result['error'] = errno.errorcode[e.errno]
os.unlink('${path}')`,
      );
      assert.ok(r.error === 'EDQUOT' || r.error === 'ENOSPC', `${path}: ${JSON.stringify(r)}`);
      assert.ok(r.written < 80, `${path}: ${r.written} MiB written past a 64 MiB limit`);
    }
    // What a branch inherits is not charged to it: it can write its own 64 MiB on top.
    await w.run('head -c 48M /dev/zero > /world/inherited && sync');
    const [b] = await rt.branch(w, 1);
    const wrote = await b?.run('head -c 40M /dev/zero > /world/mine && sync && echo ok');
    assert.equal(wrote?.stdout.trim(), 'ok', wrote?.stderr);
    assert.equal((await other.run('head -c 32M /dev/zero > /world/x && echo ok')).stdout.trim(), 'ok');
  }),
);

test('a world the OOM killer ended is failed with the reason, and its tree carries on', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create({ memoryMib: 64 });
    // The OOM killer picks only inside the group whose limit was hit: the keeper, whose death would end every
    // world of its tree, must be outside the group that bounds the world (and outrank none of its processes).
    const pids = processesIn(await worldTag(w));
    const keeper = keeperOf(pids[0] as number);
    for (const pid of pids) {
      assert.ok(!memoryGroup(keeper).startsWith(memoryGroup(pid)), `the keeper shares the memory group of world process ${pid}`);
      const [mine, its] = [read(`/proc/${pid}/oom_score`), read(`/proc/${keeper}/oom_score`)];
      assert.ok(mine > its, `world process ${pid} scores ${mine}, its keeper ${its}`);
    }
    // The world's own interpreter stops at its address-space limit ...
    assert.equal((await w.exec('x = bytearray(256 << 20)')).error?.type, 'MemoryError');
    // ... and memory it holds without an address (a memfd it keeps) meets the tree's cgroup.
    const r = await w.exec('import os\nfd = os.memfd_create("x")\nfor _ in range(1024):\n    os.write(fd, b"x" * (1 << 20))').catch((e: Error) => e);
    if (r instanceof Error) {
      assert.ok(r instanceof WorldFailedError, String(r));
      assert.match(r.message, /out-of-memory killer/);
    } else {
      assert.ok(r.error, 'a 1 GiB memfd was written');
    }
  }),
);
