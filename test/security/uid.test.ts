/**
 * Identity attacks from inside a world: find out what host uid it is, plant a setuid binary for the host or
 * for other worlds, change its own uid, make a user namespace, mount. Guaranteed (docs/security.md): worlds
 * are unprivileged host uids that no account uses, nothing they make is setuid outside them, and the
 * identity and mount calls a world keeps capabilities for are refused to it.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { processesIn, worldTag } from '../fixtures/runtime.js';
import { noWorldIsolation, py, withWorlds } from './helpers.js';

const skip = noWorldIsolation;

test('a world is an unprivileged host uid, and what it makes setuid is not setuid outside it', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const map = await py<string>(w, "_result = open('/proc/self/uid_map').read()");
    const [inside, outside, count] = map.trim().split(/\s+/).map(Number);
    assert.equal(inside, 0);
    assert.ok((outside as number) > 60_000 && count === 65536, `uid map ${map.trim()}: the tree's uids are a reserved unprivileged range`);
    // The host sees every process of the world as that range, never root.
    for (const pid of processesIn(await worldTag(w))) {
      const uid = Number(/Uid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      assert.ok(uid >= (outside as number) + 1000, `world process ${pid} runs as host uid ${uid}`);
    }
    // A setuid copy of id: on the host disk it belongs to the runtime's file owner, not root ...
    const planted = await w.run('cp /usr/bin/id /world/sid && chmod 4755 /world/sid && stat -c %a /world/sid');
    assert.equal(planted.stdout.trim(), '4755');
    const rtid = (await import('node:fs')).readdirSync(join(rt.home, 'fs', 'layers'))[0] as string;
    const onDisk = statSync(join(rt.home, 'fs', 'layers', rtid, w.id, 'files', 'sid'));
    assert.notEqual(onDisk.uid, 0, 'a world file owned by host root');
    assert.ok(onDisk.uid > (outside as number));
    // ... and in a branch (another uid) it runs as that branch, not as the world that planted it.
    const [b] = await rt.branch(w, 1);
    const ran = await b?.run('/world/sid -u; id -u');
    const [euid, uid] = (ran?.stdout ?? '').trim().split('\n');
    assert.equal(euid, uid, 'the setuid bit took effect across worlds');
    assert.notEqual(uid, (await w.exec('import os; os.getuid()')).value);
  }),
);

test('identity, namespace and mount calls are refused to a running world', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const [sibling] = await rt.branch(w, 1);
    const theirs = Number((await sibling?.exec('import os; os.getuid()'))?.value);
    const tried = await py<Record<string, string>>(
      w,
      `import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def call(f):
    r = f()
    return 'ok' if r == 0 else errno.errorcode[ctypes.get_errno()]
_result = {}
for name, f in {
    'setresuid(sibling)': lambda: libc.setresuid(${theirs}, ${theirs}, ${theirs}),
    'setuid(0)': lambda: libc.setuid(0),
    # setfsuid returns the old fsuid, never an error: it worked if the fsuid reads back 0.
    'setfsuid(0)': lambda: 0 if (libc.setfsuid(0), libc.setfsuid(-1))[1] == 0 else -1,
    'unshare(user)': lambda: libc.unshare(0x10000000),
    'unshare(mount)': lambda: libc.unshare(0x20000),
    'clone(new pid ns)': lambda: libc.syscall(56, 0x20000000 | 17, 0, 0, 0, 0),
    'mount tmpfs': lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None),
    'umount /world': lambda: libc.umount2(b'/world', 2),
    'setns(own mnt)': lambda: libc.setns(os.open('/proc/self/ns/mnt', os.O_RDONLY), 0),
    'chroot': lambda: libc.chroot(b'/tmp'),
}.items():
    _result[name] = call(f)
_result['uid'] = os.getuid()`,
    );
    const uid = tried.uid;
    delete tried.uid;
    for (const [what, outcome] of Object.entries(tried)) assert.notEqual(outcome, 'ok', `${what} was allowed`);
    assert.notEqual(uid, theirs);
    assert.equal((await sibling?.exec('1 + 1'))?.value, '2');
  }),
);
