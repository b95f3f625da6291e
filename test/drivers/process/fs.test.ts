// The world filesystem layer, on every backend this machine has (docs/process-driver.md, "Files"): btrfs and
// copy as root with isolation 'world'; overlay with isolation 'tree', which runs unprivileged, so as root it
// is run as the nobody user in a child process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type World, WorldRuntime } from '../../../src/index.js';
import { checks } from '../../fixtures/fs-checks.js';
import { withRuntime } from '../../fixtures/runtime.js';

const root = process.getuid?.() === 0;
const here = dirname(fileURLToPath(import.meta.url));

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const backends: { fs: 'btrfs' | 'copy'; skip: string | false }[] = [
  { fs: 'btrfs', skip: !root ? 'btrfs images need root' : !has('mkfs.btrfs') ? 'btrfs-progs (mkfs.btrfs) is not installed' : false },
  { fs: 'copy', skip: !root ? 'isolation world needs root' : false },
];

for (const { fs, skip } of backends) {
  describe(`fs ${fs}`, { skip }, () => {
    for (const c of checks) {
      test(c.name, () =>
        withRuntime(
          async (rt) => {
            assert.equal((await rt.doctor()).drivers[0]?.fs, fs);
            await c.run(rt, fs);
          },
          { isolation: 'world', fs, record: false, pool: { worlds: 0, branchesPerSnapshot: 0 } },
        ),
      );
    }
  });
}

/** Whether unprivileged user namespaces work for `uid` (overlay needs them). */
function userNamespaces(asNobody: boolean): boolean {
  const argv = ['--user', '--map-root-user', '--mount', 'true'];
  const r = asNobody ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'unshare', ...argv]) : spawnSync('unshare', argv);
  return r.status === 0;
}

const overlaySkip = !userNamespaces(root)
  ? 'unprivileged user namespaces are not allowed here (overlay runs in one)'
  : root && !has('setpriv')
    ? 'setpriv (util-linux) is needed to run as nobody'
    : false;

test('fs overlay (isolation tree, unprivileged): every check', { skip: overlaySkip }, () => {
  const home = mkdtempSync(join(tmpdir(), 'wr-ovl-'));
  const fixture = join(here, '../../fixtures/fs-checks.js');
  let r: ReturnType<typeof spawnSync>;
  if (root) {
    chownSync(home, 65534, 65534);
    r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, fixture, home, 'tree', 'overlay'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: home },
      timeout: 600_000,
    });
  } else {
    r = spawnSync(process.execPath, [fixture, home, 'tree', 'overlay'], { encoding: 'utf8', timeout: 600_000 });
  }
  const lines = String(r.stdout).trim().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('ok ')).length, checks.length, `${r.stdout}\n${r.stderr}`);
  assert.equal(r.status, 0, String(r.stderr));
});

test('fs auto picks btrfs as root when it can, and doctor says which', { skip: backends[0]?.skip }, () =>
  withRuntime(async (rt) => {
    const d = (await rt.doctor()).drivers[0] as { fs: string; diskLimit: boolean; notes: string[] };
    assert.equal(d.fs, 'btrfs');
    assert.ok(d.notes.some((n) => /^files: btrfs/.test(n)));
    assert.ok(WorldRuntime);
  }),
);

/** Whether `cp --reflink=always` works under the system temp folder: then a copy is instant, not slow. */
function reflinks(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'wr-reflink-'));
  const r = spawnSync('sh', ['-c', 'echo x > a && cp --reflink=always a b'], { cwd: dir });
  spawnSync('rm', ['-rf', dir]);
  return r.status === 0;
}

test(
  'fs copy: the keeper serves the rest of its tree while it copies a large world',
  { skip: backends[1]?.skip || (reflinks() && 'the temp folder copies by reflink, so no copy here is slow') },
  () =>
    withRuntime(
      async (rt) => {
        const big = await rt.create({ diskMib: 2048 });
        const [small] = await rt.branch(big, 1); // the same fork tree, no files of its own
        await big.exec("with open('/world/big', 'wb') as f:\n    for _ in range(256): f.write(b'x' * (1 << 20))");
        const order: string[] = [];
        const snapshotting = big.snapshot().then((s) => {
          order.push('snapshot of the large world');
          return s;
        });
        const branching = rt.branch(small as World, 1).then((ws) => {
          order.push('branch of the small one');
          return ws;
        });
        const [snap, [b]] = await Promise.all([snapshotting, branching]);
        assert.deepEqual(order, ['branch of the small one', 'snapshot of the large world']);
        const [copy] = await rt.branch(snap, 1);
        assert.equal((await copy?.exec("__import__('os').path.getsize('/world/big')"))?.value, String(256 << 20));
        assert.equal((await b?.exec('1'))?.value, '1');
      },
      { isolation: 'world', fs: 'copy', record: false, pool: { worlds: 0, branchesPerSnapshot: 0 } },
    ),
);
