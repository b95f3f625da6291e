"""World filesystems (docs/process-driver.md, "Files"): one layer per world and per snapshot, kept by the keeper.

A layer holds `files/` (the world's /world) and `tmp/` (its /tmp). Backends:
  btrfs    a layer is a subvolume; a snapshot is a read-only snapshot of it, a branch a writable snapshot of
           that: constant time whatever the size, copy-on-write, per-layer quotas (simple quotas).
  overlay  a layer is a stack of frozen directories plus a writable upper; a snapshot freezes the upper,
           a branch mounts a fresh upper over the stack. Constant time, no quotas; see the caveats in the doc.
  copy     a layer is a directory; snapshot and branch copy it (`cp -a`): O(bytes + files), last resort.
"""

import errno
import fcntl
import os
import shutil
import struct
import subprocess
import tempfile

import children
import sandbox

_BTRFS = 0x94


def _iow(nr, size):
    return (1 << 30) | (size << 16) | (_BTRFS << 8) | nr


def _ior(nr, size):
    return (2 << 30) | (size << 16) | (_BTRFS << 8) | nr


SUBVOL_CREATE = _iow(14, 4096)
SNAP_CREATE_V2 = _iow(23, 4096)
SNAP_DESTROY_V2 = _iow(63, 4096)
QGROUP_LIMIT = _ior(43, 48)
GET_SUBVOL_INFO = _ior(60, 0x1F8)
SUBVOL_RDONLY = 1 << 1
QGROUP_LIMIT_MAX_RFER = 1
QGROUP_LIMIT_MAX_EXCL = 2


def _vol_args(fd, name):
    return bytearray(struct.pack("q", fd) + name.encode().ljust(4088, b"\0"))


def _vol_args_v2(fd, name, flags=0):
    return bytearray(struct.pack("qQQ", fd, 0, flags) + b"\0" * 32 + name.encode().ljust(4040, b"\0"))


class Layer:
    __slots__ = ("id", "path", "readonly", "stack", "upper", "work", "users", "dropped")

    def __init__(self, lid, path, readonly=False):
        self.id, self.path, self.readonly = lid, path, readonly
        self.stack = []  # overlay: frozen directories, top first
        self.upper = self.work = None
        self.users = 0  # overlay: layers whose stack holds one of ours
        self.dropped = False


class Layers:
    """The layers of one fork tree under `root` (a directory only the runtime can reach)."""

    kind = None
    background = False  # snapshot and branch are instant; a backend that copies has begin/finish/abandon

    def __init__(self, root, owner, group):
        self.root, self.owner, self.group = root, owner, group
        self.layers = {}

    def _skeleton(self, path):
        for sub, mode in (("files", 0o755), ("tmp", 0o1777)):
            os.mkdir(os.path.join(path, sub), mode)
            os.chmod(os.path.join(path, sub), mode)
            os.chown(os.path.join(path, sub), self.owner, self.group)

    def get(self, lid):
        return self.layers[lid]

    def limit(self, lid, disk_bytes):
        """Cap what a layer may write; False when this backend cannot."""
        return False

    def usage(self, lid):
        return None


class BtrfsLayers(Layers):
    kind = "btrfs"

    # Writable snapshots kept ready per read-only snapshot, made while the keeper is idle: a branch born on
    # the spot then renames one instead of waiting for a snapshot's transaction commit (~2 ms).
    READY = 2

    def __init__(self, root, owner, group, quotas):
        super().__init__(root, owner, group)
        self.quotas = quotas  # the sysfs qgroups folder when simple quotas are on, else None
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.ready = {}  # read-only snapshot's layer id -> names of writable snapshots of it, made ahead
        self.short = set()  # the snapshots in `ready` with fewer than READY: asked after every keeper event
        self.counter = 0

    def _create(self, src, name, readonly):
        s = os.open(src.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.ioctl(self.root_fd, SNAP_CREATE_V2, _vol_args_v2(s, name, SUBVOL_RDONLY if readonly else 0))
        finally:
            os.close(s)

    def _snap(self, src, lid, readonly):
        self._create(src, lid, readonly)
        layer = self.layers[lid] = Layer(lid, os.path.join(self.root, lid), readonly)
        return layer

    def new(self, lid, disk_bytes=None):
        fcntl.ioctl(self.root_fd, SUBVOL_CREATE, _vol_args(0, lid))
        layer = self.layers[lid] = Layer(lid, os.path.join(self.root, lid))
        self._skeleton(layer.path)
        self.limit(lid, disk_bytes)
        return layer

    def snapshot(self, src_id, lid):
        layer = self._snap(self.layers[src_id], lid, True)
        self.ready[lid] = []
        self.short.add(lid)
        return layer

    def branch(self, src_id, lid, disk_bytes=None):
        layer = self._take_ready(src_id, lid) or self._snap(self.layers[src_id], lid, False)
        self.limit(lid, disk_bytes)
        return layer

    def _take_ready(self, src_id, lid):
        """A writable snapshot of `src_id` made ahead, renamed to `lid` (no commit: a read-only snapshot's copy
        made earlier holds what it holds now); None when there is none, or the rename failed."""
        ready = self.ready.get(src_id)
        if not ready:
            return None
        name = ready.pop()
        self.short.add(src_id)
        try:
            os.rename(os.path.join(self.root, name), os.path.join(self.root, lid))
        except OSError:
            self._destroy(name)
            return None
        layer = self.layers[lid] = Layer(lid, os.path.join(self.root, lid))
        return layer

    def wants_ready(self):
        return bool(self.short)

    def make_ready(self):
        """Make one writable snapshot ahead, for a read-only snapshot that has fewer than READY."""
        src_id = next(iter(self.short))
        names = self.ready[src_id]
        self.counter += 1
        name = "%s.ready-%d" % (src_id, self.counter)
        try:
            self._create(self.layers[src_id], name, False)
        except OSError:
            self.short.discard(src_id)  # its branches snapshot on the spot; not tried again
            raise
        names.append(name)
        if len(names) >= self.READY:
            self.short.discard(src_id)

    def mounts(self, lid):
        layer = self.layers[lid]
        return os.path.join(layer.path, "files"), os.path.join(layer.path, "tmp"), None

    def _treeid(self, lid):
        fd = os.open(self.layers[lid].path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            info = bytearray(0x1F8)
            fcntl.ioctl(fd, GET_SUBVOL_INFO, info)
            return struct.unpack_from("Q", info, 0)[0]
        finally:
            os.close(fd)

    def limit(self, lid, disk_bytes):
        if not disk_bytes or not self.quotas:
            return False
        fd = os.open(self.layers[lid].path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            flags = QGROUP_LIMIT_MAX_RFER | QGROUP_LIMIT_MAX_EXCL
            fcntl.ioctl(fd, QGROUP_LIMIT, bytearray(struct.pack("QQQQQQ", 0, flags, disk_bytes, disk_bytes, 0, 0)))
        finally:
            os.close(fd)
        return True

    def usage(self, lid):
        """Bytes this layer wrote that still exist (simple quotas charge an extent to the layer that made it)."""
        if not self.quotas or lid not in self.layers:
            return None
        try:
            with open(os.path.join(self.quotas, "0_%d" % self._treeid(lid), "exclusive"), "rb") as f:
                return int(f.read())
        except OSError:
            return None

    def drop(self, lid):
        self.short.discard(lid)
        for name in self.ready.pop(lid, ()):
            self._destroy(name)
        if self.layers.pop(lid, None) is not None:
            self._destroy(lid)

    def _destroy(self, name):
        try:
            fcntl.ioctl(self.root_fd, SNAP_DESTROY_V2, _vol_args_v2(0, name))
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise


class OverlayLayers(Layers):
    """Layers as overlayfs stacks. `userxattr` when the keeper is root only inside a user namespace."""

    kind = "overlay"
    MAX_STACK = 480  # overlayfs refuses more than 500 lower layers
    # A snapshot whose stack is this deep is flattened in the background: a copy of its merged view becomes
    # one layer that later branches use instead (each lookup walks the stack: ~1 us per layer).
    FLATTEN_AT = 48

    def __init__(self, root, owner, group, userxattr):
        super().__init__(root, owner, group)
        self.userxattr = userxattr
        self.frozen = {}  # frozen directory -> number of layers whose stack holds it
        self.counter = 0
        self.flat = {}  # tuple(stack) -> a directory holding the same merged view in one layer
        self.flattening = {}  # tuple(stack) -> (cp process, mount point, destination)

    def _dir(self, tag):
        # Every fork tree of a runtime keeps its folders in the runtime's one layer folder, each with a counter
        # of its own: a name another tree took is skipped.
        while True:
            self.counter += 1
            path = os.path.join(self.root, "%s-%d" % (tag, self.counter))
            try:
                os.mkdir(path, 0o755)
                return path
            except FileExistsError:
                continue

    def new(self, lid, disk_bytes=None):
        layer = self.layers[lid] = Layer(lid, None)
        base = self._dir("base")
        self._skeleton(base)
        self._hold([base])
        layer.stack = [base]
        layer.upper, layer.work = self._dir("up"), self._dir("work")
        return layer

    def _hold(self, stack):
        for d in stack:
            self.frozen[d] = self.frozen.get(d, 0) + 1

    def _shorten(self, stack):
        """The same contents in as few layers as known: the longest flattened suffix replaced by its copy."""
        for i in range(len(stack)):
            flat = self.flat.get(tuple(stack[i:]))
            if flat is not None:
                return stack[:i] + [flat]
        return list(stack)

    def _restack(self, layer, stack):
        stack = self._shorten(stack)
        if len(stack) > self.MAX_STACK:
            self.wait_flattening()
            stack = self._shorten(stack)
        if len(stack) > self.MAX_STACK:
            raise OSError(errno.EMLINK, "overlay stack of %s is %d layers deep (limit %d)" % (layer.id, len(stack), self.MAX_STACK))
        self._hold(stack)
        old, layer.stack = layer.stack, stack
        self._release(old)

    def freeze(self, lid):
        """Turn a world's upper into a frozen layer on top of its stack; it gets a fresh upper."""
        layer = self.layers[lid]
        frozen = self._dir("frozen")
        os.rmdir(frozen)
        os.rename(layer.upper, frozen)
        shutil.rmtree(layer.work, ignore_errors=True)
        self._hold([frozen])
        self._restack(layer, [frozen] + layer.stack)
        self._release([frozen])
        layer.upper, layer.work = self._dir("up"), self._dir("work")

    def snapshot(self, src_id, lid):
        self.freeze(src_id)
        layer = self.layers[lid] = Layer(lid, None, readonly=True)
        self._restack(layer, self.layers[src_id].stack)
        if len(layer.stack) >= self.FLATTEN_AT:
            self.start_flattening(layer.stack)
        return layer

    def branch(self, src_id, lid, disk_bytes=None):
        src = self.layers[src_id]
        if not src.readonly:
            self.freeze(src_id)
        layer = self.layers[lid] = Layer(lid, None)
        self._restack(layer, src.stack)
        layer.upper, layer.work = self._dir("up"), self._dir("work")
        return layer

    def _release(self, stack):
        for d in stack:
            self.frozen[d] -= 1
            if self.frozen[d] == 0:
                del self.frozen[d]
                for key in [k for k, v in self.flat.items() if v == d or d in k]:
                    del self.flat[key]
                shutil.rmtree(d, ignore_errors=True)

    def start_flattening(self, stack):
        key = tuple(stack)
        if key in self.flattening or key in self.flat:
            return
        mnt, dst = self._dir("flatmount"), self._dir("flat")
        fs = sandbox.syscall("fsopen", b"overlay", sandbox.FSOPEN_CLOEXEC)
        try:
            for d in stack:
                sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_SET_STRING, b"lowerdir+", os.fsencode(d), 0)
            if self.userxattr:
                sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_SET_FLAG, b"userxattr", None, 0)
            sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_CMD_CREATE, None, None, 0)
            merged = sandbox.syscall("fsmount", fs, sandbox.FSMOUNT_CLOEXEC, sandbox.MOUNT_ATTR_RDONLY)
        finally:
            os.close(fs)
        try:
            sandbox.attach(merged, mnt)
        finally:
            os.close(merged)
        self._hold(stack)  # kept while the copy reads it
        cp = children.start(["cp", "-a", "--reflink=auto", "--", mnt + "/.", dst],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.flattening[key] = (cp, mnt, dst)

    def poll_flattening(self, wait=False):
        """Adopt finished copies: later snapshots and branches of those stacks use one layer."""
        for key, (cp, mnt, dst) in list(self.flattening.items()):
            if wait:
                cp.wait()
            if cp.poll() is None:
                continue
            children.done(cp)
            del self.flattening[key]
            try:
                sandbox.umount(mnt)
            except OSError:
                pass
            os.rmdir(mnt)
            if cp.returncode == 0:
                self.frozen[dst] = self.frozen.get(dst, 0)
                self.flat[key] = dst
            else:
                shutil.rmtree(dst, ignore_errors=True)
            self._release(list(key))

    def wait_flattening(self):
        self.poll_flattening(wait=True)

    def mounts(self, lid):
        layer = self.layers[lid]
        if layer.readonly:
            return None, None, None
        fs = sandbox.syscall("fsopen", b"overlay", sandbox.FSOPEN_CLOEXEC)
        try:
            for d in layer.stack:
                sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_SET_STRING, b"lowerdir+", os.fsencode(d), 0)
            sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_SET_STRING, b"upperdir", os.fsencode(layer.upper), 0)
            sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_SET_STRING, b"workdir", os.fsencode(layer.work), 0)
            for flag in (("userxattr",) if self.userxattr else ()) + ("volatile",):
                sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_SET_FLAG, flag.encode(), None, 0)
            sandbox.syscall("fsconfig", fs, sandbox.FSCONFIG_CMD_CREATE, None, None, 0)
            merged = sandbox.syscall("fsmount", fs, sandbox.FSMOUNT_CLOEXEC, sandbox.MOUNT_ATTR_NOSUID | sandbox.MOUNT_ATTR_NODEV)
        finally:
            os.close(fs)
        return "files", "tmp", merged

    def drop(self, lid):
        layer = self.layers.pop(lid, None)
        if layer is None:
            return
        self._release(layer.stack)
        for d in (layer.upper, layer.work):
            if d:
                shutil.rmtree(d, ignore_errors=True)


class CopyLayers(Layers):
    """Each layer a plain directory; snapshots and branches are copies (the loudly-warned last resort).

    A copy takes time in proportion to the files, so it runs in the background (`begin`) while the keeper
    goes on serving the rest of the tree; the keeper adopts it once `cp` exits (`finish`).
    """

    kind = "copy"
    background = True

    def new(self, lid, disk_bytes=None):
        path = os.path.join(self.root, lid)
        os.mkdir(path, 0o755)
        self._skeleton(path)
        layer = self.layers[lid] = Layer(lid, path)
        return layer

    def begin(self, src_id, lid):
        """Start copying layer `src_id` to `lid`: the `cp` process, to wait on and hand to `finish`."""
        errors = tempfile.TemporaryFile(dir=self.root)
        try:
            # As the owner of the files, never as root: a world's symlinks are copied, not followed.
            proc = children.start(["cp", "-a", "--reflink=auto", "--", self.layers[src_id].path, os.path.join(self.root, lid)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        except BaseException:
            errors.close()
            raise
        proc.errors = errors
        return proc

    def finish(self, lid, proc, readonly):
        """Adopt a finished copy as layer `lid`, or remove what it left and raise why it failed."""
        children.done(proc)
        errors, proc.errors = proc.errors, None
        try:
            if proc.returncode != 0:
                errors.seek(0)
                tail = errors.read()[-400:].decode(errors="replace").strip()
                shutil.rmtree(os.path.join(self.root, lid), ignore_errors=True)
                raise OSError("copying the files failed (cp exited %s): %s" % (proc.returncode, tail or "no output"))
        finally:
            errors.close()
        layer = self.layers[lid] = Layer(lid, os.path.join(self.root, lid), readonly)
        return layer

    def abandon(self, lid, proc):
        """Stop a copy that is no longer wanted and remove what it wrote."""
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        children.done(proc)
        if proc.errors is not None:
            proc.errors.close()
            proc.errors = None
        shutil.rmtree(os.path.join(self.root, lid), ignore_errors=True)

    def mounts(self, lid):
        layer = self.layers[lid]
        return os.path.join(layer.path, "files"), os.path.join(layer.path, "tmp"), None

    def drop(self, lid):
        layer = self.layers.pop(lid, None)
        if layer is not None:
            shutil.rmtree(layer.path, ignore_errors=True)
