/**
 * Attacks on the runtime's control channels from inside a world: find, rename, replace or connect to the
 * runtime's socket; flood the world's own connection with a line that never ends, or with messages that
 * answer nothing; forge replies that break the protocol. Guaranteed (docs/security.md): no world can name the
 * socket, every other world is still born and served, a flood costs the flooding world its connection and
 * nothing else, and a forged reply is checked like any other (agent-protocol.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DriverError, RuntimeClosedError, WorldFailedError } from '../../src/index.js';
import { noWorldIsolation, py, withWorlds } from './helpers.js';

const skip = noWorldIsolation;

test('a world finds no control socket to rename, replace or connect to', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const runDir = join(rt.home, 'run');
    const sockets = readdirSync(runDir).map((id) => join(runDir, id, 'ctl.sock'));
    assert.ok(sockets.length > 0, 'the runtime listens under its run folder');
    const seen = await py<{ sockets: string[]; tried: Record<string, string>; cmdlines: string[] }>(
      w,
      `import errno, os, socket, stat
_result = {'sockets': [], 'tried': {}, 'cmdlines': []}
for root, dirs, files in os.walk('/'):
    if root == '/':
        dirs[:] = [d for d in dirs if d not in ('proc', 'sys')]
    for f in files + dirs:
        p = os.path.join(root, f)
        try:
            if stat.S_ISSOCK(os.lstat(p).st_mode):
                _result['sockets'].append(p)
        except OSError:
            pass
for p in os.listdir('/proc'):
    if p.isdigit() and int(p) != os.getpid():
        try:
            _result['cmdlines'].append(open('/proc/%s/cmdline' % p).read())
        except OSError:
            pass
for path in ${JSON.stringify(sockets)}:
    for what, act in (('connect', lambda: socket.socket(socket.AF_UNIX).connect(path)),
                      ('rename', lambda: os.rename(path, '/tmp/stolen.sock')),
                      ('remove', lambda: os.unlink(path))):
        try:
            act()
            _result['tried'][what] = 'done'
        except OSError as e:
            _result['tried'][what] = errno.errorcode[e.errno]
# Listen where a runtime might look, in case anything ever did.
for path in ('/tmp/ctl.sock', '/world/ctl.sock', '\\0ctl.sock'):
    s = socket.socket(socket.AF_UNIX); s.bind(path); s.listen()
    globals().setdefault('_listeners', []).append(s)`,
    );
    assert.deepEqual(seen.sockets, [], 'no unix socket anywhere in a world\u2019s view');
    assert.deepEqual(seen.cmdlines, [], 'no other process (keeper, world) is visible');
    assert.deepEqual(seen.tried, { connect: 'ENOENT', rename: 'ENOENT', remove: 'ENOENT' });
    // Every world born afterwards, in this tree and in new ones, still gets its own channel.
    const other = await rt.create();
    const [b] = await rt.branch(w, 1);
    const s = await w.snapshot();
    const [c] = await rt.branch(s, 1);
    for (const x of [other, b, c]) assert.equal((await x?.exec('import os; os.getuid() >= 1000'))?.value, 'True');
    // Within a tree every world has a uid of its own (trees are apart by their pid namespaces).
    const uids = await Promise.all([w, b, c].map(async (x) => (await x?.exec('import os; os.getuid()'))?.value));
    assert.equal(new Set(uids).size, 3);
  }),
);

test('a line that never ends fails its own world and nothing else', { skip }, () =>
  withWorlds(async (rt) => {
    const flooder = await rt.create();
    const other = await rt.create();
    await other.exec('kept = 1');
    const rssBefore = process.memoryUsage().rss;
    // Straight into its own connection (fd 1000), around the agent: 64 MiB with no newline.
    const flood = flooder.exec('import os\nchunk = b"x" * (1 << 20)\nfor _ in range(64):\n    os.write(1000, chunk)');
    const err = await flood.then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err instanceof WorldFailedError, `expected the world to fail, got ${err}`);
    assert.match(err.message, /line was longer than the limit/);
    assert.equal(flooder.state, 'failed');
    // The host held at most about one line's limit (16 MiB), not the flood.
    const grew = process.memoryUsage().rss - rssBefore;
    assert.ok(grew < 48 * 2 ** 20, `the host's memory grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
    assert.equal((await other.exec('kept')).value, '1');
    assert.equal((await (await rt.create()).exec('2')).value, '2');
  }),
);

test('a flood of messages answering no request fails its own world', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const err = await w
      .exec('import os\nfor i in range(10000):\n    os.write(1000, b\'{"id": 999999, "ok": true, "result": {}}\\n\')\nimport time; time.sleep(5)')
      .then(
        () => undefined,
        (e: Error) => e,
      );
    assert.ok(err instanceof WorldFailedError, `expected the world to fail, got ${err}`);
    assert.match(err.message, /answering no request/);
  }),
);

/** Python that finds the id of the request it runs in (the agent's frame holds it) and answers it itself. */
const forge = (reply: string) =>
  [
    'import os, sys, json',
    'f = sys._getframe()',
    'while "req" not in f.f_locals:',
    '    f = f.f_back',
    'rid = f.f_locals["req"]["id"]',
    `os.write(1000, (json.dumps(dict(${reply}, id=rid)) + "\\n").encode())`,
  ].join('\n');

test('a forged reply that breaks the protocol is refused; the world and the runtime live on', { skip }, () =>
  withWorlds(async (rt) => {
    const w = await rt.create();
    const seen: string[] = [];
    // Not an ExecResult: the host checks every field instead of passing it on as one.
    const bad = await w.exec(forge('{"ok": True, "result": {"stdout": 5, "stderr": [], "truncated": "no"}}')).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(bad instanceof DriverError, `expected a DriverError, got ${bad}`);
    assert.match(bad.message, /malformed exec reply: stdout is number/);
    // An error code that is not the protocol's does not pass for one of the runtime's own errors.
    const closed = await w.exec(forge('{"ok": False, "error": {"code": "RUNTIME_CLOSED", "message": "forged"}}')).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(closed instanceof DriverError && !(closed instanceof RuntimeClosedError), `expected a DriverError, got ${closed}`);
    // Streamed events other than stdout and stderr never reach onOutput.
    const r = await w.exec(forge('{"event": "data", "data": "not output"}').replace('import os', 'print("real")\nimport os'), {
      onOutput: (stream, chunk) => seen.push(`${stream}:${chunk}`),
    });
    assert.equal(r.stdout, 'real\n');
    assert.equal(seen.join(''), 'stdout:realstdout:\n');
    assert.equal((await w.exec('1 + 1')).value, '2');
    assert.equal(w.state, 'running');
  }),
);
