/**
 * @module
 * Python source of `_wr_e2b`, part 2 of 3: files and directory watches. Paths arrive absolute (the host
 * resolves E2B's relative and /home/user paths, envd-paths.ts); everything runs as the world's own user
 * inside its own mount view, so nothing here can reach past the world. Watches use inotify through
 * ctypes (loaded on the first watch), events are queued here and collected by `tick`.
 */
export const GUEST_FILES = String.raw`
def _check_abs(path):
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise Fault("invalid_argument", "path must be absolute, got %r" % (path,))
    return os.path.normpath(path)


def _names(uid, gid):
    try:
        import pwd
        owner = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        owner = str(uid)
    try:
        import grp
        group = grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        group = str(gid)
    return owner, group


def _metadata(path):
    out = {}
    try:
        for k in os.listxattr(path, follow_symlinks=False):
            if k.startswith("user.e2b."):
                out[k[9:]] = os.getxattr(path, k, follow_symlinks=False).decode("utf-8", "replace")
    except OSError:
        pass
    return out


def _entry(path, st=None):
    st = st if st is not None else os.lstat(path)
    m = st.st_mode
    kind = "dir" if _stat.S_ISDIR(m) else "symlink" if _stat.S_ISLNK(m) else "file" if _stat.S_ISREG(m) else "other"
    perm = _stat.filemode(m)
    if kind == "symlink":
        perm = "L" + perm[1:]
    owner, group = _names(st.st_uid, st.st_gid)
    e = {"n": os.path.basename(path) or "/", "t": kind, "p": path, "s": st.st_size, "m": m & 0o777, "perm": perm,
         "o": owner, "g": group, "mt": [st.st_mtime_ns // 1000000000, st.st_mtime_ns % 1000000000]}
    if kind == "symlink":
        try:
            e["lt"] = os.readlink(path)
        except OSError:
            pass
    md = _metadata(path)
    if md:
        e["md"] = md
    return e


def op_stat(a, g):
    return _entry(_check_abs(a["path"]))


def op_list(a, g):
    root = _check_abs(a["path"])
    depth = max(1, int(a.get("depth") or 1))
    if not os.path.isdir(root):
        if not os.path.lexists(root):
            raise Fault("not_found", "path %r does not exist" % root)
        raise Fault("invalid_argument", "path %r is not a directory" % root)
    out = []

    def walk(d, level):
        with os.scandir(d) as it:
            items = sorted(it, key=lambda x: x.name)
        for x in items:
            if len(out) >= MAX_ENTRIES:
                raise Fault("resource_exhausted", "more than %d entries under %r" % (MAX_ENTRIES, root))
            try:
                out.append(_entry(x.path, x.stat(follow_symlinks=False)))
            except OSError:
                continue
            if level < depth and x.is_dir(follow_symlinks=False):
                try:
                    walk(x.path, level + 1)
                except OSError:
                    pass

    walk(root, 1)
    return out


def op_mkdir(a, g):
    path = _check_abs(a["path"])
    if os.path.lexists(path):
        raise Fault("already_exists", "path %r already exists" % path)
    os.makedirs(path)
    return _entry(path)


def op_move(a, g):
    src, dst = _check_abs(a["src"]), _check_abs(a["dst"])
    if not os.path.lexists(src):
        raise Fault("not_found", "path %r does not exist" % src)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    try:
        os.rename(src, dst)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise
        import shutil
        shutil.move(src, dst)
    return _entry(dst)


def op_remove(a, g):
    path = _check_abs(a["path"])
    st = os.lstat(path)
    if _stat.S_ISDIR(st.st_mode):
        import shutil
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return {}


def op_read(a, g):
    path = _check_abs(a["path"])
    if os.path.isdir(path):
        raise Fault("invalid_argument", "path %r is a directory" % path)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        off, n = int(a.get("offset") or 0), int(a.get("size") or TICK_BYTES)
        data = os.pread(fd, n, off)
        return {"d": _b64(data), "size": os.fstat(fd).st_size}
    finally:
        os.close(fd)


def op_write(a, g):
    """One chunk of an upload, written in place (a watcher sees the file written, as it would under envd)."""
    path = _check_abs(a["path"])
    if os.path.isdir(path):
        raise Fault("invalid_argument", "path %r is a directory" % path)
    first = bool(a.get("first"))
    if first:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    # O_NONBLOCK: a FIFO without a reader refuses at once instead of holding the world.
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_TRUNC if first else os.O_APPEND)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(base64.b64decode(a.get("d") or ""))
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    if not a.get("last"):
        return {}
    if a.get("md") is not None:
        _set_metadata(path, a["md"])
    return _entry(path)


def _set_metadata(path, md):
    try:
        for k in os.listxattr(path):
            if k.startswith("user.e2b.") and k[9:] not in md:
                os.removexattr(path, k)
    except OSError:
        if md:
            raise Fault("unimplemented", "file metadata needs user extended attributes, which this world's filesystem does not support")
        return
    try:
        for k, v in md.items():
            os.setxattr(path, "user.e2b." + k, v.encode("utf-8"))
    except OSError as e:
        raise Fault("unimplemented", "file metadata needs user extended attributes, which this world's filesystem refused: %s" % (e.strerror or e))


# -- directory watches (inotify) ------------------------------------------------------------------------

IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x2, 0x4, 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED, IN_ISDIR = 0x400, 0x800, 0x4000, 0x8000, 0x40000000
WATCH_MASK = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
EVENT_KINDS = ((IN_CREATE, "create"), (IN_MOVED_TO, "create"), (IN_MODIFY, "write"), (IN_ATTRIB, "chmod"),
               (IN_DELETE, "remove"), (IN_DELETE_SELF, "remove"), (IN_MOVED_FROM, "rename"), (IN_MOVE_SELF, "rename"))


class Watcher:
    def __init__(self, wid, root, recursive, include):
        self.wid, self.root, self.recursive, self.include = wid, root, recursive, include
        self.wds, self.events, self.overflow = set(), [], False

    def push(self, ev):
        if len(self.events) >= MAX_EVENTS:
            self.overflow = True
        else:
            self.events.append(ev)


class Inotify:
    def __init__(self):
        import ctypes, struct
        self.struct = struct
        self.libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.ctypes = ctypes
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            e = ctypes.get_errno()
            raise Fault("unimplemented", "inotify is not available in this world: %s" % os.strerror(e))
        self.wds = {}
        self.watchers = {}

    def add(self, w, path, rel):
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), WATCH_MASK)
        if wd < 0:
            e = self.ctypes.get_errno()
            raise OSError(e, os.strerror(e), path)
        self.wds.setdefault(wd, []).append((w, rel, path))
        w.wds.add(wd)
        if w.recursive:
            with os.scandir(path) as it:
                for x in it:
                    if x.is_dir(follow_symlinks=False):
                        try:
                            self.add(w, x.path, x.name if not rel else rel + "/" + x.name)
                        except OSError:
                            pass

    def remove(self, wid):
        w = self.watchers.pop(wid, None)
        if w is None:
            return
        for wd in w.wds:
            left = [t for t in self.wds.get(wd, []) if t[0] is not w]
            if left:
                self.wds[wd] = left
            else:
                self.wds.pop(wd, None)
                self.libc.inotify_rm_watch(self.fd, wd)

    def drain(self):
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            i = 0
            while i + 16 <= len(data):
                wd, mask, _cookie, ln = self.struct.unpack_from("iIII", data, i)
                name = os.fsdecode(data[i + 16:i + 16 + ln].rstrip(b"\0"))
                i += 16 + ln
                if mask & IN_Q_OVERFLOW:
                    for w in self.watchers.values():
                        w.overflow = True
                    continue
                if mask & IN_IGNORED:
                    self.wds.pop(wd, None)
                    continue
                for w, rel, path in list(self.wds.get(wd, [])):
                    self.deliver(w, rel, path, mask, name)

    def deliver(self, w, rel, path, mask, name):
        relname = (rel + "/" + name if rel else name) if name else rel
        full = os.path.join(path, name) if name else path
        if w.recursive and mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO):
            try:
                self.add(w, full, relname)
            except OSError:
                pass
        for bit, kind in EVENT_KINDS:
            if mask & bit:
                ev = {"name": relname, "type": kind}
                if w.include and kind not in ("remove", "rename"):
                    try:
                        ev["entry"] = _entry(full)
                    except OSError:
                        pass
                w.push(ev)
                break

    def disown(self):
        if _fd_is(self.fd, "anon_inode:inotify"):
            os.close(self.fd)


def op_watch_add(a, g):
    root = _check_abs(a["path"])
    if not os.path.isdir(root):
        if not os.path.lexists(root):
            raise Fault("not_found", "path %r does not exist" % root)
        raise Fault("invalid_argument", "path %r is not a directory" % root)
    if St.watch is None:
        St.watch = Inotify()
    wid = os.urandom(8).hex()
    w = Watcher(wid, root, bool(a.get("recursive")), bool(a.get("include")))
    St.watch.watchers[wid] = w
    try:
        St.watch.add(w, root, "")
    except BaseException:
        St.watch.remove(wid)
        raise
    return {"wid": wid}


def op_watch_remove(a, g):
    if St.watch is not None:
        St.watch.remove(a.get("wid"))
    return {}
`;
