/**
 * Files through the real `e2b` SDK against a real daemon: write and read text and bytes (one file, many,
 * large), list with depth, stat, exists, rename, remove, makeDir, metadata, watchDir (plain and
 * recursive), the /home/user alias of the world's home, and FileNotFoundError where E2B raises it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FileNotFoundError, type FilesystemEvent, FilesystemEventType, FileType, InvalidArgumentError, Sandbox } from 'e2b';
import { rejection, waitFor, withSandbox } from './helpers.js';

describe('files through the e2b SDK', () => {
  let sbx: Sandbox;
  withSandbox(async () => (sbx = await Sandbox.create()));

  it('writes and reads text and bytes, and the files are the world’s own', async () => {
    const info = await sbx.files.write('notes/hello.txt', 'héllo wörld');
    assert.deepEqual({ name: info.name, path: info.path, type: info.type }, { name: 'hello.txt', path: '/world/notes/hello.txt', type: FileType.FILE });
    assert.equal(await sbx.files.read('notes/hello.txt'), 'héllo wörld');
    assert.equal(await sbx.files.read('/home/user/notes/hello.txt'), 'héllo wörld', '/home/user is the world home');
    assert.equal((await sbx.commands.run('cat /world/notes/hello.txt')).stdout, 'héllo wörld');
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    await sbx.files.write('/tmp/raw.bin', bytes.buffer);
    assert.deepEqual(Array.from(await sbx.files.read('/tmp/raw.bin', { format: 'bytes' })), Array.from(bytes));
    const blob = await sbx.files.read('/tmp/raw.bin', { format: 'blob' });
    assert.equal(blob.size, 6);
    await sbx.files.write('empty.txt', '');
    assert.equal(await sbx.files.read('empty.txt'), '');
    const many = await sbx.files.write([
      { path: 'multi/a.txt', data: 'A' },
      { path: 'multi/b.txt', data: 'B' },
    ]);
    assert.deepEqual(many.map((w) => w.path).sort(), ['/world/multi/a.txt', '/world/multi/b.txt']);
    assert.equal(await sbx.files.read('multi/b.txt'), 'B');
  });

  it('moves large files in chunks both ways, multipart and octet-stream', async () => {
    const big = randomBytes(9 * 1024 * 1024 + 123);
    await sbx.files.write('big.bin', big.buffer.slice(big.byteOffset, big.byteOffset + big.byteLength) as ArrayBuffer);
    const back = await sbx.files.read('big.bin', { format: 'bytes' });
    assert.equal(back.length, big.length);
    assert.ok(Buffer.from(back).equals(big), 'the same bytes came back');
    await sbx.files.write('big2.bin', new Blob([big]).stream(), { useOctetStream: true });
    assert.equal((await sbx.files.getInfo('big2.bin')).size, big.length);
    assert.equal((await sbx.commands.run('sha256sum big.bin big2.bin | cut -c1-64 | uniq | wc -l')).stdout, '1\n');
  });

  it('lists, stats, renames, removes and makes directories', async () => {
    assert.equal(await sbx.files.makeDir('tree/a/b'), true);
    assert.equal(await sbx.files.makeDir('tree/a/b'), false, 'an existing directory answers false');
    await sbx.files.write('tree/a/b/leaf.txt', 'leaf');
    await sbx.files.write('tree/top.txt', 'top');
    const one = await sbx.files.list('tree');
    assert.deepEqual(one.map((x) => `${x.name}:${x.type}`), ['a:dir', 'top.txt:file']);
    const deep = await sbx.files.list('/home/user/tree', { depth: 3 });
    assert.deepEqual(deep.map((x) => x.path).sort(), ['/world/tree/a', '/world/tree/a/b', '/world/tree/a/b/leaf.txt', '/world/tree/top.txt']);
    const st = await sbx.files.getInfo('tree/top.txt');
    assert.equal(st.size, 3);
    assert.equal(st.type, FileType.FILE);
    assert.equal(st.permissions, '-rw-r--r--');
    assert.ok(st.modifiedTime instanceof Date && Math.abs(st.modifiedTime.getTime() - Date.now()) < 600_000);
    assert.equal(await sbx.files.exists('tree/top.txt'), true);
    assert.equal(await sbx.files.exists('tree/nope'), false);
    const moved = await sbx.files.rename('tree/top.txt', 'elsewhere/top.txt');
    assert.equal(moved.path, '/world/elsewhere/top.txt');
    assert.equal(await sbx.files.exists('tree/top.txt'), false);
    assert.equal(await sbx.files.read('elsewhere/top.txt'), 'top');
    await sbx.files.remove('tree');
    assert.equal(await sbx.files.exists('tree/a/b/leaf.txt'), false);
    await assert.rejects(sbx.files.list('tree/a'), FileNotFoundError);
    await assert.rejects(sbx.files.read('tree/a/b/leaf.txt'), FileNotFoundError);
    await assert.rejects(sbx.files.getInfo('tree'), FileNotFoundError);
    await assert.rejects(sbx.files.remove('tree'), FileNotFoundError);
    await assert.rejects(sbx.files.list('elsewhere', { depth: 0 }), InvalidArgumentError);
    const dirRead = await rejection(sbx.files.read('elsewhere'));
    assert.match(dirRead.message, /is a directory/);
  });

  it('keeps file metadata', async () => {
    const w = await sbx.files.write('tagged.txt', 'x', { metadata: { owner: 'team-a', stage: 'raw' } });
    assert.deepEqual(w.metadata, { owner: 'team-a', stage: 'raw' });
    assert.deepEqual((await sbx.files.getInfo('tagged.txt')).metadata, { owner: 'team-a', stage: 'raw' });
    await sbx.files.write('tagged.txt', 'y');
    assert.equal((await sbx.files.getInfo('tagged.txt')).metadata, undefined, 'an upload without metadata clears it');
  });

  it('watches a directory: writes, creates, removes; recursively into new subdirectories', async () => {
    await sbx.files.makeDir('watched/inner');
    await sbx.files.write('watched/existing.txt', 'v1');
    const flat: FilesystemEvent[] = [];
    const h = await sbx.files.watchDir('watched', (ev) => void flat.push(ev));
    await sbx.files.write('watched/existing.txt', 'v2');
    await sbx.files.write('watched/new.txt', 'n');
    await sbx.files.remove('watched/new.txt');
    await waitFor('write, create and remove events', () =>
      [
        ['existing.txt', FilesystemEventType.WRITE],
        ['new.txt', FilesystemEventType.CREATE],
        ['new.txt', FilesystemEventType.REMOVE],
      ].every(([n, t]) => flat.some((ev) => ev.name === n && ev.type === t)),
    );
    await sbx.files.write('watched/inner/deep.txt', 'not seen without recursive');
    await h.stop();
    assert.ok(!flat.some((ev) => ev.name.includes('deep.txt')), JSON.stringify(flat));

    const deep: FilesystemEvent[] = [];
    const r = await sbx.files.watchDir('watched', (ev) => void deep.push(ev), { recursive: true, includeEntry: true });
    await sbx.commands.run('mkdir -p watched/later && echo hi > watched/later/x.txt');
    await sbx.files.write('watched/inner/deep.txt', 'seen now');
    await waitFor('events from subdirectories', () =>
      deep.some((ev) => ev.name === 'inner/deep.txt' && ev.type === FilesystemEventType.WRITE) &&
      deep.some((ev) => ev.name === 'later' && ev.type === FilesystemEventType.CREATE),
    );
    const withEntry = deep.find((ev) => ev.name === 'inner/deep.txt' && ev.entry);
    assert.equal(withEntry?.entry?.path, '/world/watched/inner/deep.txt');
    await r.stop();
    await assert.rejects(sbx.files.watchDir('no/such/dir', () => {}), FileNotFoundError);
  });
});
