/**
 * A branch attacks its snapshot, its sibling and its source: through paths, /proc, inherited handles,
 * shared memory, signals, ptrace and sockets. Each attack is what a tenant would run inside the branch;
 * the assertions are what the runtime guarantees (docs/security.md): nothing outside the branch changes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { noWorldIsolation, py, runtimePaths, tryEach, withWorlds } from './helpers.js';

const skip = noWorldIsolation;

/** Which of `paths` exist on the host, and what each file holds. */
function snapshotOf(paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of paths) {
    if (!existsSync(p)) continue;
    out[p] = statSync(p).isFile() ? readFileSync(p, 'utf8') : 'dir';
  }
  return out;
}

test('a branch cannot write its snapshot, sibling, source or the runtime through any path it can name', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    await w.writeFile('f.txt', 'original');
    const s = await w.snapshot();
    const [a, b] = await rt.branch(s, 2);
    if (!a || !b) throw new Error('no branches');
    const ids = [w.id, s.id, a.id, b.id];
    // Every path of the runtime's folders, and where each world's files are on the host.
    const host = runtimePaths(rt).flatMap((p) => [p, `${p}/f.txt`, ...ids.map((id) => `${p}/${id}/files/f.txt`)]);
    const relative = ['../f.txt', '../../f.txt', '/f.txt', '/usr/f.txt', '/etc/f.txt', '/proc/f.txt', '/dev/f.txt', ...ids.map((id) => `../${id}/f.txt`)];
    const before = snapshotOf(host);
    const wrote = await py<Record<string, string>>(a, tryEach([...host, ...relative], "open(_p, 'w').write('X')"));
    // Whatever the branch could open under those names was its own (its /tmp, say): the host's are untouched.
    assert.deepEqual(snapshotOf(host), before, 'a host path changed');
    for (const path of relative) if (!path.startsWith('../') || path === '../f.txt') assert.notEqual(wrote[path], 'ok', `the branch wrote ${path}`);
    // Through /proc: every process it can see, and every pid it could guess.
    const procs = await py<Record<string, string>>(
      a,
      `import errno, os
_result = {}
for _pid in [p for p in os.listdir('/proc') if p.isdigit()] + [str(i) for i in range(1, 300)]:
    if int(_pid) == os.getpid():
        continue
    _path = '/proc/%s/root/world/f.txt' % _pid
    try:
        open(_path, 'w').write('X')
        if os.readlink('/proc/%s/ns/mnt' % _pid) != os.readlink('/proc/self/ns/mnt'):
            _result[_path] = 'ok'
    except OSError as _e:
        pass`,
    );
    assert.deepEqual(procs, {}, 'a branch wrote another world\u2019s files through /proc');
    // Nothing it did is visible anywhere else: a new branch of the snapshot starts from the original.
    const [c] = await rt.branch(s, 1);
    for (const world of [w, b, c]) assert.equal(Buffer.from((await world?.readFile('f.txt')) ?? []).toString(), 'original');
    assert.equal(Buffer.from(await a.readFile('f.txt')).toString(), 'original', 'its own copy too: it wrote only where it cannot');
  }),
);

test('handles and shared memory inherited through fork do not reach back', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    await w.exec(
      `import mmap, os
log = open('/world/log.txt', 'a+')
log.write('w1\\n'); log.flush()
shared = mmap.mmap(-1, 4096)                       # MAP_SHARED | MAP_ANONYMOUS
shared[:1] = b'W'
r, wr = os.pipe()                                   # a pipe its branches would inherit
fmap = open('/world/mapped.bin', 'w+b'); fmap.write(b'W' * 4096); fmap.flush()
filemap = mmap.mmap(fmap.fileno(), 4096)            # MAP_SHARED of a file in /world`,
    );
    const s = await w.snapshot();
    const [a] = await rt.branch(s, 1);
    if (!a) throw new Error('no branch');
    const attack = await py<Record<string, unknown>>(
      a,
      `import os
_result = {}
log.write('attack\\n'); log.flush()
shared[:1] = b'A'
filemap[:1] = b'A'; filemap.flush()
try:
    os.write(wr, b'attack')
    _result['pipe'] = 'written'
except OSError as e:
    _result['pipe'] = e.errno
_result['log_path'] = os.readlink('/proc/self/fd/%d' % log.fileno())`,
    );
    assert.notEqual(attack.pipe, 'written', 'the inherited pipe still reaches the source');
    assert.equal(attack.log_path, '/world/log.txt');
    // The source and the snapshot's next branch see none of it.
    const [b] = await rt.branch(s, 1);
    for (const world of [w, b]) {
      const seen = await py<Record<string, string>>(
        world as NonNullable<typeof b>,
        "_result = {'log': open('/world/log.txt').read(), 'shared': shared[:1].decode(), 'file': filemap[:1].decode(), 'disk': open('/world/mapped.bin','rb').read(1).decode()}",
      );
      assert.deepEqual(seen, { log: 'w1\n', shared: 'W', file: 'W', disk: 'W' }, `seen from ${world === w ? 'the source' : 'a new branch'}`);
    }
    // And the branch kept working on its own copies.
    const own = await py<Record<string, string>>(
      a,
      "_result = {'log': open('/world/log.txt').read(), 'shared': shared[:1].decode(), 'file': filemap[:1].decode()}",
    );
    assert.deepEqual(own, { log: 'w1\nattack\n', shared: 'A', file: 'A' });
  }),
);

test('a read-only shared mapping of a host file, which births keep shared, cannot be made writable', { skip }, () =>
  withWorlds(async (rt) => {
    // Births keep such mappings shared instead of copying them (agent/rehome.py): safe only while no world can
    // write through one. The source maps a host file as a hostile world would, then the branch tries.
    const w = await rt.create();
    await w.exec(
      "import mmap, os\nhost = os.open('/usr/lib/os-release', os.O_RDONLY)\nhostmap = mmap.mmap(host, 0, mmap.MAP_SHARED, mmap.PROT_READ)",
    );
    const [b] = await rt.branch(await w.snapshot(), 1);
    if (!b) throw new Error('no branch');
    const tried = await py<Record<string, unknown>>(
      b,
      `import ctypes, errno, mmap, os
_result = {}
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
maps = [l for l in open('/proc/self/maps') if l.rstrip().endswith('/usr/lib/os-release')]
_result['mapped'] = [l.split()[1] for l in maps]
lo, hi = (int(x, 16) for x in maps[0].split()[0].split('-'))
_result['mprotect'] = 'done' if libc.mprotect(lo, hi - lo, mmap.PROT_READ | mmap.PROT_WRITE) == 0 else errno.errorcode[ctypes.get_errno()]
for what, flags in (('open rw', os.O_RDWR), ('open w', os.O_WRONLY)):
    try:
        os.close(os.open('/usr/lib/os-release', flags))
        _result[what] = 'done'
    except OSError as e:
        _result[what] = errno.errorcode[e.errno]`,
    );
    assert.deepEqual(tried.mapped, ['r--s'], 'the branch holds the mapping, shared');
    assert.equal(tried.mprotect, 'EACCES', 'the shared mapping was made writable');
    assert.notEqual(tried['open rw'], 'done');
    assert.notEqual(tried['open w'], 'done');
  }),
);

test('a branch cannot signal, trace or see its sibling, snapshot or source', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const s = await w.snapshot();
    const [a, b] = await rt.branch(s, 2);
    if (!a || !b) throw new Error('no branches');
    const attack = await py<{ visible: number[]; signalled: number[]; traced: number[] }>(
      a,
      `import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
me = os.getpid()
_result = {'visible': sorted(int(p) for p in os.listdir('/proc') if p.isdigit() and int(p) != me), 'signalled': [], 'traced': []}
for pid in range(1, 2000):
    if pid == me:
        continue
    try:
        os.kill(pid, signal.SIGSTOP)
        _result['signalled'].append(pid)
    except OSError:
        pass
    if libc.ptrace(16, pid, 0, 0) == 0:             # PTRACE_ATTACH
        _result['traced'].append(pid)`,
    );
    assert.deepEqual(attack, { visible: [], signalled: [], traced: [] });
    for (const x of [w, b]) assert.equal((await x.exec('6 * 7')).value, '42');
    const [c] = await rt.branch(s, 1);
    assert.equal((await c?.exec('1'))?.value, '1', 'the snapshot still branches');
  }),
);

test('a branch cannot reach its sibling through loopback or abstract sockets', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const [a, b] = await rt.branch(w, 2);
    if (!a || !b) throw new Error('no branches');
    const port = await py<number>(
      b,
      `import socket
tcp = socket.socket(); tcp.bind(('127.0.0.1', 0)); tcp.listen()
abstract = socket.socket(socket.AF_UNIX); abstract.bind('\\0wr-sibling'); abstract.listen()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(('127.0.0.1', 0))
_result = tcp.getsockname()[1]`,
    );
    const reached = await py<Record<string, string>>(
      a,
      `import socket
_result = {}
for name, make, addr in (('tcp', lambda: socket.socket(), ('127.0.0.1', ${port})),
                         ('abstract', lambda: socket.socket(socket.AF_UNIX), '\\0wr-sibling')):
    try:
        make().connect(addr)
        _result[name] = 'connected'
    except OSError as e:
        _result[name] = type(e).__name__`,
    );
    assert.deepEqual(reached, { tcp: 'ConnectionRefusedError', abstract: 'ConnectionRefusedError' });
    // Its own loopback works: servers inside one world are fine.
    const self = await py<string>(
      b,
      `import socket
c = socket.create_connection(('127.0.0.1', ${port})); s, _ = tcp.accept(); c.sendall(b'own'); _result = s.recv(3).decode()`,
    );
    assert.equal(self, 'own');
  }),
);
